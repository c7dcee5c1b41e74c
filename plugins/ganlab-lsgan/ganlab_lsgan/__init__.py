"""LSGAN for ganlab (Mao et al. 2017, "Least Squares Generative Adversarial Networks").

Registers the ``lsgan`` loss. The least-squares loss keeps penalising fakes that are on the right side of
the decision boundary but far from the real data, so the generator's gradients do not vanish the way the
sigmoid cross-entropy's do once the discriminator is confident.

Its discriminator's outputs are not probabilities: they are regressed towards b for real images and a for
generated ones, with no sigmoid and no bound, and may overshoot either target. So the scores ganlab logs
and plots are the raw outputs, with a and b marked, and there is no "discriminator won outright" check:
the least-squares generator loss keeps its gradient however well D separates the two.
"""

from __future__ import annotations

import dataclasses

import torch

from ganlab import BuildContext, Loss, ScoreKind, component, param


@dataclasses.dataclass
class LSGANConfig:
    fake_target: float = param(0.0, "a: the discriminator's target for fake images")
    real_target: float = param(1.0, "b: the discriminator's target for real images")
    generator_target: float = param(1.0, "c: the value the generator wants D to give its fakes")

    def __post_init__(self):
        if self.fake_target == self.real_target:
            raise ValueError("fake_target and real_target must differ, or the discriminator learns nothing")


@dataclasses.dataclass(frozen=True)
class LeastSquares(Loss):
    """D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2];  G: 1/2 E[(D(G(z)) - c)^2], on raw outputs."""

    fake_target: float = 0.0
    real_target: float = 1.0
    generator_target: float = 1.0

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (
            (real_logits - self.real_target).square().mean() + (fake_logits - self.fake_target).square().mean()
        )

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (fake_logits - self.generator_target).square().mean()

    @property
    def score_kind(self) -> ScoreKind:
        return ScoreKind(
            "least-squares output",
            f"The discriminator's raw output, regressed towards b = {self.real_target:g} for real "
            f"images and a = {self.fake_target:g} for generated ones.",
            references=(self.fake_target, self.real_target),
        )


@component(
    "loss",
    "lsgan",
    config=LSGANConfig,
    help="least-squares loss (a = 0, b = 1, c = 1 by default) on raw discriminator outputs",
)
def build_lsgan(config: LSGANConfig, context: BuildContext) -> LeastSquares:
    return LeastSquares(config.fake_target, config.real_target, config.generator_target)
