"""``rpgan``: the relativistic pairing loss (Jolicoeur-Martineau 2018; the loss of R3GAN, Huang et al. 2024).

Each real image's score is compared with one generated image's: D minimises softplus(-(D(x) - D(G(z))))
and G minimises softplus(-(D(G(z)) - D(x))), averaged over the pairs (the i-th real image with the i-th
generated one). Because only differences of scores count, the discriminator cannot win by pushing every
score one way, and with R1 and R2 the pair converges locally (Huang et al. 2024, section 2).

Its scores are the default kind, the raw outputs, unbounded and never judged won outright: only the gap
between a real and a generated score means anything.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ganlab import BuildContext, Loss, component, param


@dataclasses.dataclass
class RpGANConfig:
    margin: float = param(0.0, "how far above the generated scores the real ones are pushed (0 in R3GAN)", min=0.0)


@dataclasses.dataclass(frozen=True)
class RelativisticPairing(Loss):
    """D: E[softplus(D(G(z)) - D(x) + margin)];  G: E[softplus(D(x) - D(G(z)))], paired image by image."""

    margin: float = 0.0
    generator_needs_real = True

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits - real_logits + self.margin).mean()

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(real_logits - fake_logits).mean()


@component(
    "loss",
    "rpgan",
    config=RpGANConfig,
    help="relativistic pairing loss (RpGAN, the loss of R3GAN): softplus of D(G(z)) - D(x), pair by pair",
)
def build_rpgan(config: RpGANConfig, context: BuildContext) -> RelativisticPairing:
    return RelativisticPairing(config.margin)
