"""``wgan-critic``: the DCGAN discriminator's architecture with a normalisation WGAN-GP allows."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

from torch import nn

from ganlab import BuildContext, DCGANDiscriminator, component, param

Norm = Literal["layer", "instance", "none"]

NORMS: dict[str, Callable[[int], nn.Module] | None] = {
    # GroupNorm with one group normalises each image over (C, H, W): layer norm for feature maps, with a
    # per-channel scale and shift, and independent of the image size.
    "layer": functools.partial(nn.GroupNorm, 1),
    "instance": functools.partial(nn.InstanceNorm2d, affine=True),
    "none": None,
}


@dataclasses.dataclass
class CriticConfig:
    features: int = param(64, "width of the first layer; later layers are 2x, 4x, 8x wider", min=1)
    norm: Norm = param("layer", "normalisation of the inner layers: layer (the paper's advice), instance or none")


@component(
    "discriminator",
    "wgan-critic",
    config=CriticConfig,
    help="DCGAN discriminator with layer norm, instance norm or none instead of batch norm",
)
def build_critic(config: CriticConfig, context: BuildContext) -> DCGANDiscriminator:
    return DCGANDiscriminator(config.features, context.image_size, context.channels, norm=NORMS[config.norm])
