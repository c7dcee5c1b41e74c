"""BCE losses on logits: the non-saturating DCGAN loss and the original minimax loss.

Both work on raw logits through ``softplus`` (BCE-with-logits written out): numerically stable for any
logit and safe under autocast, unlike ``BCELoss`` on sigmoid outputs. Their scores are probabilities:
the sigmoid of a logit is D's estimate that the image is real.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..common.config import param
from ..contracts.engine import BuildContext, Loss
from ..contracts.scores import PROBABILITY
from ..registry.registry import component


@dataclasses.dataclass
class BCEConfig:
    real_label: float = param(
        1.0, "target for real images; 0.9 is one-sided label smoothing, 1.0 is off", min=0.0, max=1.0
    )


def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float) -> torch.Tensor:
    real_targets = torch.full_like(real_logits, real_label)
    return F.binary_cross_entropy_with_logits(real_logits, real_targets) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )


class BinaryCrossEntropy(Loss):
    """What both BCE losses share: the discriminator's loss, and probabilities as scores."""

    real_label: float
    score_kind = PROBABILITY

    def discriminator_loss(self, real_logits, fake_logits):
        return discriminator_bce(real_logits, fake_logits, self.real_label)

    def scores(self, logits):
        return torch.sigmoid(logits)


@dataclasses.dataclass(frozen=True)
class NonSaturatingBCE(BinaryCrossEntropy):
    """G maximises log D(G(z)) (the DCGAN paper's practical choice: strong gradients early on)."""

    real_label: float = 1.0

    def generator_loss(self, fake_logits, real_logits=None):
        return F.softplus(-fake_logits).mean()  # = BCE(fake_logits, 1)


MINIMAX_PROBABILITY = dataclasses.replace(
    PROBABILITY, outright_win=dataclasses.replace(PROBABILITY.outright_win, generator_loss_above=None)
)
"""Probabilities, where a won discriminator shows in D(G(z)) and D(x) alone: the minimax generator loss,
log(1 - D(G(z))), goes to 0 rather than growing as D wins; that is its saturation."""


@dataclasses.dataclass(frozen=True)
class MinimaxBCE(BinaryCrossEntropy):
    """G minimises log(1 - D(G(z))), as in Goodfellow et al. 2014; saturates when D wins early."""

    real_label: float = 1.0
    score_kind = MINIMAX_PROBABILITY

    def generator_loss(self, fake_logits, real_logits=None):
        return -F.softplus(fake_logits).mean()  # = log(1 - sigmoid(l)) averaged


@component("loss", "bce", config=BCEConfig, help="non-saturating BCE on logits, optional one-sided label smoothing")
def build_bce(config: BCEConfig, context: BuildContext) -> NonSaturatingBCE:
    return NonSaturatingBCE(config.real_label)


@component("loss", "bce-minimax", config=BCEConfig, help="original minimax BCE: G minimises log(1 - D(G(z)))")
def build_minimax(config: BCEConfig, context: BuildContext) -> MinimaxBCE:
    return MinimaxBCE(config.real_label)
