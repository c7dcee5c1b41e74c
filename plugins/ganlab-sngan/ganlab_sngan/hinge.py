"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018) on raw discriminator outputs."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ganlab import BuildContext, Loss, ScoreKind, component


@dataclasses.dataclass
class HingeConfig:
    """The hinge loss has no settings."""


HINGE_SCORE = ScoreKind(
    "hinge score",
    "The discriminator's raw output: it is pushed above 1 for real images and below -1 for "
    "generated ones, and no further.",
    references=(-1.0, 1.0),
)
"""Unbounded, with the margins marked; no outright win, since the generator's loss -D(G(z)) never saturates."""


@dataclasses.dataclass(frozen=True)
class Hinge(Loss):
    """D is only pushed while a real output is below 1 or a fake one above -1; G raises D(G(z))."""

    score_kind = HINGE_SCORE

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean()


@component(
    "loss",
    "hinge",
    config=HingeConfig,
    help="hinge loss: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z))",
)
def build_hinge(config: HingeConfig, context: BuildContext) -> Hinge:
    return Hinge()
