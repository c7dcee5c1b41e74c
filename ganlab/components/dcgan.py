"""DCGAN generator and discriminator (Radford et al. 2016), for any power-of-two image size >= 16.

The classic 64x64 networks are the ``image_size = 64`` case: the generator goes 1 -> 4 -> 8 -> 16 -> 32
-> 64 with widths 8f, 4f, 2f, f; the discriminator mirrors it. Other sizes add or remove middle blocks,
so 32x32 recipes (and 128) use the same code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from ..common.config import param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext
from ..registry.registry import component


def _depth(image_size: int) -> int:
    """Number of 2x resolution steps between 4x4 and ``image_size``."""
    log = math.log2(image_size) if image_size > 0 else 0
    if image_size < 16 or log != int(log):
        raise ConfigError(
            "image_size",
            f"DCGAN makes power-of-two images of at least 16 pixels "
            f"(16, 32, 64, 128, ...), not {image_size}; change data.image_size",
        )
    return int(log) - 2


@dataclasses.dataclass
class GeneratorConfig:
    latent_dim: int = param(100, "size of the latent vector z (100 and 128 are common)", min=1, max=65536)
    features: int = param(64, "width of the last hidden layer; earlier layers are 2x, 4x, 8x wider", min=1, max=65536)


class DCGANGenerator(nn.Module):
    """z -> transposed convolutions with batch norm and ReLU -> Tanh."""

    def __init__(self, latent_dim: int, features: int, image_size: int, channels: int):
        super().__init__()
        self.latent_dim = latent_dim
        depth = _depth(image_size)
        width = features * 2 ** (depth - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(depth - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


@dataclasses.dataclass
class DiscriminatorConfig:
    features: int = param(64, "width of the first layer; later layers are 2x, 4x, 8x wider", min=1, max=65536)


class DCGANDiscriminator(nn.Module):
    """Strided convolutions, LeakyReLU(0.2), batch norm on inner layers, no pooling, one logit per image.

    ``norm(width)`` makes the inner layers' normalisation, so variants keep this architecture with
    another norm: a WGAN-GP critic must not use batch norm, whose mixing of a batch's images breaks the
    per-image gradient penalty, and a spectrally normalised discriminator needs none. With ``norm=None``
    the convolutions get biases, which a norm layer's shift would otherwise provide.
    """

    def __init__(
        self, features: int, image_size: int, channels: int, norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d
    ):
        super().__init__()
        depth = _depth(image_size)
        bias = norm is None
        width = features
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, True)]
        for _ in range(depth - 1):
            layers.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=bias))
            if norm is not None:
                layers.append(norm(width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=bias)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


@component(
    "generator",
    "dcgan",
    config=GeneratorConfig,
    help="DCGAN generator: transposed convs + batch norm + ReLU, Tanh output",
)
def build_generator(config: GeneratorConfig, context: BuildContext) -> DCGANGenerator:
    return DCGANGenerator(config.latent_dim, config.features, context.image_size, context.channels)


@component(
    "discriminator",
    "dcgan",
    config=DiscriminatorConfig,
    help="DCGAN discriminator: strided convs + LeakyReLU(0.2), batch norm inside, one logit",
)
def build_discriminator(config: DiscriminatorConfig, context: BuildContext) -> DCGANDiscriminator:
    return DCGANDiscriminator(config.features, context.image_size, context.channels)
