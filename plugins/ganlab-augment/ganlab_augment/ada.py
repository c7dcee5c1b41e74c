"""Adaptive discriminator augmentation, ADA (Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data").

Each operation of the pipeline is applied to each image with probability p. Applied with p < 1, none of
them leaks into the generator's images: the un-augmented image stays the most likely one, so G gains
nothing by imitating an augmentation. The right p depends on how much data there is and how far training
has gone, so ADA steers it: D's outputs on the real images it trains on tell how much it overfits, as
r_t = E[sign(D(x))] (0 when D cannot tell its real images from generated ones, 1 when it has memorised
them). Every ``interval`` discriminator updates p moves towards keeping r_t at ``target``, by the number
of images seen over ``speed_kimg`` thousand: p can go from 0 to 1 in ``speed_kimg`` thousand images.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.distributed

from ganlab import Augment, BuildContext, component, mean_over_processes, param

from . import ops
from .choices import parse_parts

BRIGHTNESS_STD = 0.2
"""Standard deviation of the brightness shift (images in [-1, 1]), as in the paper."""
CONTRAST_LOG2_STD = 0.5
"""Standard deviation of log2 of the contrast factor, as in the paper."""
SATURATION_LOG2_STD = 1.0
"""Standard deviation of log2 of the saturation factor, as in the paper."""
P_MAX = 1.0 - 2.0**-24
"""The largest p, the largest float32 below 1: at p = 1 every image would be augmented and the
augmentations would leak into the generator."""

OPS = ("xflip", "rotate90", "translation", "brightness", "contrast", "saturation", "cutout")
"""What ``ops`` may name; each is the method of :class:`AdaptiveAugment` of that name with a leading _."""


@dataclasses.dataclass
class AdaConfig:
    ops: str = param(
        "xflip,rotate90,translation,brightness,contrast,saturation",
        "comma-separated operations, applied in this order: " + ", ".join(OPS),
    )
    p_init: float = param(0.0, "probability p of each operation at the start", min=0.0, max=P_MAX)
    target: float = param(0.6, "the value of r_t = E[sign(D(real))] that p is steered to keep", min=0.0, max=1.0)
    interval: int = param(4, "discriminator updates between adjustments of p", min=1)
    speed_kimg: float = param(
        500.0,
        "thousands of images over which p can go from 0 to 1 (the paper's 500; short runs want 10 to 50)",
        min=1e-6,
    )
    translation_ratio: float = param(
        0.125, "largest shift, as a fraction of the image side (mirror fill)", min=0.0, max=1.0
    )
    cutout_ratio: float = param(
        0.5, "side of the zeroed square of 'cutout', as a fraction of the image side", min=0.0, max=1.0
    )


class AdaptiveAugment(Augment):
    """Applies each of ``ops`` with probability p to each image, with random parameters:

    - ``xflip``: a mirror image half the time; ``rotate90``: 0 to 3 quarter turns;
    - ``translation``: a shift by whole pixels of up to ``translation_ratio`` of the side in each
      direction, the uncovered part mirrored from the image;
    - ``brightness``: + N(0, 0.2); ``contrast``: x 2^N(0, 0.5) around the image's mean; ``saturation``:
      x 2^N(0, 1) around each pixel's grey;
    - ``cutout``: a square of ``cutout_ratio`` of the side set to 0, centred anywhere in the image.

    p, r_t and the statistics gathered since the last adjustment are tensors on the device, replaced (never
    changed in place) at each adjustment, so nothing waits for the device and a logged p keeps its value.
    """

    def __init__(
        self,
        ops: tuple[str, ...],
        device: torch.device,
        p_init: float = 0.0,
        target: float = 0.6,
        interval: int = 4,
        speed_kimg: float = 500.0,
        translation_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
    ):
        self.ops = ops
        self.device = device
        self.target = target
        self.interval = interval
        self.speed_kimg = speed_kimg
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio
        self.p = torch.tensor(min(p_init, P_MAX), device=device)
        self.rt = torch.zeros((), device=device)
        self.signs = torch.zeros(2, device=device)  # sum of sign(D(x)) and number of images, this process
        self.updates = 0  # discriminator updates since the last adjustment

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        gates = ops.per_image(torch.rand, images, len(self.ops)) < self.p
        uniform = ops.per_image(torch.rand, images, 2 * len(self.ops))
        normal = ops.per_image(torch.randn, images, len(self.ops))
        for i, op in enumerate(self.ops):
            augmented = getattr(self, f"_{op}")(images, uniform[:, 2 * i], uniform[:, 2 * i + 1], normal[:, i])
            images = torch.where(gates[:, i].view(-1, 1, 1, 1), augmented, images)
        return images

    def observe(self, real_logits: torch.Tensor) -> None:
        signs = real_logits.detach().float().sign()
        seen = torch.stack([signs.sum(), signs.new_full((), float(signs.numel()))])
        self.signs = self.signs + seen.to(self.device)
        self.updates += 1
        if self.updates == self.interval:
            self._adjust()

    def _adjust(self) -> None:
        """Move p by sign(r_t - target) times the images seen over ``speed_kimg`` thousand, every process
        alike (r_t and the count are averaged over processes)."""
        sign_sum, images = mean_over_processes(self.signs).unbind()
        self.rt = sign_sum / images.clamp(min=1)
        step = torch.sign(self.rt - self.target) * images * _world_size() / (self.speed_kimg * 1000)
        self.p = (self.p + step).clamp(0.0, P_MAX)
        self.signs = torch.zeros(2, device=self.device)
        self.updates = 0

    def logged(self) -> dict[str, torch.Tensor]:
        return {"augment_p": self.p, "augment_rt": self.rt}

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "rt": self.rt, "signs": self.signs, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = state["p"].to(self.device)
        self.rt = state["rt"].to(self.device)
        self.signs = state["signs"].to(self.device)
        self.updates = int(state["updates"])

    # Each operation gets, per image, two uniform numbers in [0, 1) (u, v) and one standard normal (z).

    def _xflip(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.xflip(images, u < 0.5)

    def _rotate90(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.rotate90(images, (u * 4).floor().long())

    def _translation(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.random_translate(images, u, v, self.translation_ratio, fill="reflect")

    def _brightness(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.brightness(images, z * BRIGHTNESS_STD)

    def _contrast(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.contrast(images, torch.exp2(z * CONTRAST_LOG2_STD))

    def _saturation(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.saturation(images, torch.exp2(z * SATURATION_LOG2_STD))

    def _cutout(self, images: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return ops.random_cutout(images, u, v, self.cutout_ratio)


def _world_size() -> int:
    """Processes training together: each observes its share of every batch, the step counts them all."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


@component(
    "augment",
    "ada",
    config=AdaConfig,
    help="adaptive augmentation: each op with probability p, p steered by sign(D(real)) to a target",
)
def build_ada(config: AdaConfig, context: BuildContext) -> AdaptiveAugment:
    return AdaptiveAugment(
        parse_parts("ops", config.ops, OPS),
        context.device,
        config.p_init,
        config.target,
        config.interval,
        config.speed_kimg,
        config.translation_ratio,
        config.cutout_ratio,
    )
