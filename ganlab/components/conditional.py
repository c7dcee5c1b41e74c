"""Conditional DCGAN: a generator that takes the attributes to draw with z, and a projection discriminator
(Miyato & Koyama 2018, "cGANs with Projection Discriminator") that judges whether an image is real *and*
shows its labels.

Both are the DCGAN networks of :mod:`.dcgan` with a label path added, not copies of them: the generator
feeds the DCGAN generator z joined to learned label embeddings; the discriminator keeps the DCGAN trunk and
its last convolution as the unconditional output, and adds the inner product of each attribute's
embedding with the trunk's features. They take ``labels`` as int64 ``(N, A)`` value indices of the data
set's :class:`ganlab.LabelSpace` (``conditional = True``, :class:`ganlab.ConditionalGenerator`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ..common.config import param
from ..common.labels import LabelSpace
from ..contracts.engine import BuildContext
from ..registry.registry import component
from .dcgan import DCGANDiscriminator, DCGANGenerator

Join = Literal["concat", "sum"]
Norm = Literal["batch", "layer", "none"]

NORMS: dict[str, Callable[[int], nn.Module] | None] = {
    "batch": nn.BatchNorm2d,
    "layer": functools.partial(nn.GroupNorm, 1),  # one group: each image normalised over (C, H, W)
    "none": None,
}


def label_embeddings(space: LabelSpace | None, dim: int) -> nn.ModuleList:
    """One learned ``dim``-vector per value of each attribute; none before the label space is known (the
    early build on the meta device), so the network still has its image path's shapes."""
    return nn.ModuleList(nn.Embedding(size, dim) for size in (space.sizes if space is not None else ()))


@dataclasses.dataclass
class ConditionalGeneratorConfig:
    latent_dim: int = param(100, "size of the latent vector z", min=1, max=65536)
    features: int = param(64, "width of the last hidden layer; earlier layers are 2x, 4x, 8x wider", min=1, max=65536)
    embed_dim: int = param(16, "size of each attribute value's learned embedding", min=1, max=65536)
    join: Join = param(
        "concat",
        "concat: each attribute's embedding joins z; sum: their sum joins z (one embed_dim however many attributes)",
    )


EMBEDDING_STD = 0.1
"""The generator's label embeddings start as N(0, 0.1), a tenth of z's scale, and grow as they learn.
Started at torch's N(0, 1) they weigh as much as z from the first step and take over: on the conditional
quickstart every latent then drew the same face for a given condition (the rows of its grid were one
face repeated; SWD 74.9 and generated pairs far more alike than real ones), where N(0, 0.1) keeps z's
variety and the same control (0.93 against chance 0.4; SWD 46.5)."""


class ConditionalDCGANGenerator(nn.Module):
    """[z, embeddings of the labels] -> the DCGAN generator: the labels enter before the first transposed
    convolution, as extra latent dimensions the generator cannot ignore; they start small
    (:data:`EMBEDDING_STD`) so that they steer z's faces rather than replace them."""

    conditional = True

    def __init__(
        self,
        latent_dim: int,
        features: int,
        image_size: int,
        channels: int,
        label_space: LabelSpace | None,
        embed_dim: int,
        join: Join = "concat",
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.label_space = label_space
        self.join = join
        self.embeddings = label_embeddings(label_space, embed_dim)
        for embed in self.embeddings:  # no init scheme covers embeddings (see EMBEDDING_STD)
            nn.init.normal_(embed.weight, 0.0, EMBEDDING_STD)
        extra = 0 if not self.embeddings else embed_dim * (len(self.embeddings) if join == "concat" else 1)
        self.trunk = DCGANGenerator(latent_dim + extra, features, image_size, channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embedded = [embed(labels[:, a]) for a, embed in enumerate(self.embeddings)]
        if embedded and self.join == "sum":
            embedded = [torch.stack(embedded).sum(0)]
        return self.trunk(torch.cat([z.reshape(z.shape[0], -1), *embedded], dim=1))


@dataclasses.dataclass
class ProjectionDiscriminatorConfig:
    features: int = param(64, "width of the first layer; later layers are 2x, 4x, 8x wider", min=1, max=65536)
    norm: Norm = param(
        "batch",
        "normalisation of the inner layers: batch (DCGAN's), layer or none (what a "
        "gradient penalty, as wgan-gp's, needs)",
    )


class ProjectionDiscriminator(nn.Module):
    """``linear(phi(x)) + sum_a <embed_a(y_a), phi(x)>``: phi is the DCGAN discriminator's trunk (every layer
    but the last, flattened), linear its last convolution (which, on the 4x4 map, is a linear map of phi).

    The embeddings start at zero, so a new one is exactly the DCGAN discriminator and the label term grows
    as it learns: with torch's N(0, 1) embeddings each inner product over the thousands of features of phi
    has a standard deviation in the tens, D's first BCE loss is about 13 instead of 1.4, and its output is
    a random function of the labels that the generator chases instead of the faces."""

    conditional = True

    def __init__(
        self, features: int, image_size: int, channels: int, label_space: LabelSpace | None, norm: Norm = "batch"
    ):
        super().__init__()
        dcgan = DCGANDiscriminator(features, image_size, channels, norm=NORMS[norm])
        self.label_space = label_space
        self.trunk = dcgan.net[:-1]
        self.linear = dcgan.net[-1]
        self.embeddings = label_embeddings(label_space, self.linear.in_channels * 4 * 4)
        for embed in self.embeddings:  # no init scheme covers embeddings: they start at zero (see above)
            nn.init.zeros_(embed.weight)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.trunk(images)
        out = self.linear(features).flatten()
        phi = features.flatten(1)
        for a, embed in enumerate(self.embeddings):
            out = out + (embed(labels[:, a]) * phi).sum(1)
        return out


@component(
    "generator",
    "cdcgan",
    config=ConditionalGeneratorConfig,
    help="conditional DCGAN generator: label embeddings joined to z (needs a labelled data set)",
)
def build_conditional_generator(config: ConditionalGeneratorConfig, context: BuildContext) -> ConditionalDCGANGenerator:
    return ConditionalDCGANGenerator(
        config.latent_dim,
        config.features,
        context.image_size,
        context.channels,
        context.label_space,
        config.embed_dim,
        config.join,
    )


@component(
    "discriminator",
    "cdcgan-projection",
    config=ProjectionDiscriminatorConfig,
    help="DCGAN discriminator with a projection head for labels (Miyato & Koyama 2018)",
)
def build_projection_discriminator(
    config: ProjectionDiscriminatorConfig, context: BuildContext
) -> ProjectionDiscriminator:
    return ProjectionDiscriminator(
        config.features, context.image_size, context.channels, context.label_space, config.norm
    )
