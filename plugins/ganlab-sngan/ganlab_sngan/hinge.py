"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018) on raw discriminator outputs."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ganlab import BuildContext, component


@dataclasses.dataclass
class HingeConfig:
    """The hinge loss has no settings."""


@dataclasses.dataclass(frozen=True)
class Hinge:
    """D is only pushed while a real output is below 1 or a fake one above -1; G raises D(G(z))."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


@component("loss", "hinge", config=HingeConfig,
           help="hinge loss: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z))")
def build_hinge(config: HingeConfig, context: BuildContext) -> Hinge:
    return Hinge()
