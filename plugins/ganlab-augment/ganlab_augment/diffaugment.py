"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transforms on every real and every generated image the discriminator
sees, in both phases: D can no longer memorise the few real images it has, and since the generator's
gradients pass through the transforms, G is pushed towards the un-augmented images (the transforms do not
leak into what it generates). Every image gets every part of the policy, with its own random parameters.
"""

from __future__ import annotations

import dataclasses

import torch

from ganlab import Augment, BuildContext, component, param

from . import ops
from .choices import parse_parts


@dataclasses.dataclass
class DiffAugmentConfig:
    policy: str = param(
        "color,translation,cutout", "comma-separated parts, applied in this order: color, translation, cutout"
    )
    translation_ratio: float = param(
        0.125, "largest shift, as a fraction of the image side (zero fill)", min=0.0, max=1.0
    )
    cutout_ratio: float = param(0.5, "side of the zeroed square, as a fraction of the image side", min=0.0, max=1.0)


POLICY_PARTS = ("color", "translation", "cutout")
"""What a policy may name; each is the method of :class:`DiffAugment` of that name with a leading _."""


class DiffAugment(Augment):
    """Applies each part of ``policy`` to every image:

    - ``color``: brightness + U(-0.5, 0.5); saturation x U(0, 2) around each pixel's grey; contrast
      x U(0.5, 1.5) around the image's mean;
    - ``translation``: a shift by whole pixels of up to ``translation_ratio`` of the side in each
      direction, uncovered pixels 0;
    - ``cutout``: a square of ``cutout_ratio`` of the side set to 0, centred anywhere in the image.
    """

    def __init__(self, policy: tuple[str, ...], translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
        self.policy = policy
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for part in self.policy:
            images = getattr(self, f"_{part}")(images)
        return images

    def _color(self, images: torch.Tensor) -> torch.Tensor:
        u = ops.per_image(torch.rand, images, 3)
        images = ops.brightness(images, u[:, 0] - 0.5)
        images = ops.saturation(images, u[:, 1] * 2)
        return ops.contrast(images, u[:, 2] + 0.5)

    def _translation(self, images: torch.Tensor) -> torch.Tensor:
        u = ops.per_image(torch.rand, images, 2)
        return ops.random_translate(images, u[:, 0], u[:, 1], self.translation_ratio, fill="zero")

    def _cutout(self, images: torch.Tensor) -> torch.Tensor:
        u = ops.per_image(torch.rand, images, 2)
        return ops.random_cutout(images, u[:, 0], u[:, 1], self.cutout_ratio)


@component(
    "augment",
    "diffaugment",
    config=DiffAugmentConfig,
    help="DiffAugment: colour, translation and cutout on every image D sees (policy string)",
)
def build_diffaugment(config: DiffAugmentConfig, context: BuildContext) -> DiffAugment:
    return DiffAugment(
        parse_parts("policy", config.policy, POLICY_PARTS), config.translation_ratio, config.cutout_ratio
    )
