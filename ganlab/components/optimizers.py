"""Adam and AdamW, configured separately for the generator and the discriminator."""

from __future__ import annotations

import dataclasses
import functools

import torch

from ..common.config import param
from ..contracts.engine import BuildContext
from ..registry.registry import component


@dataclasses.dataclass
class AdamConfig:
    lr: float = param(2e-4, "learning rate", min=0.0)
    betas: tuple[float, float] = param((0.5, 0.999), "momentum coefficients; DCGAN uses beta1 = 0.5")
    weight_decay: float = param(0.0, "L2 penalty (adam) or decoupled weight decay (adamw)", min=0.0)
    eps: float = param(1e-8, "term added to the denominator for numerical stability", min=0.0)

    def __post_init__(self):
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(self.betas)}")


def _optimizer(optimizer_cls: type[torch.optim.Optimizer], config: AdamConfig):
    return functools.partial(
        optimizer_cls, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay, eps=config.eps
    )


@component("optimizer", "adam", config=AdamConfig, help="Adam (Kingma & Ba)")
def build_adam(config: AdamConfig, context: BuildContext):
    return _optimizer(torch.optim.Adam, config)


@component("optimizer", "adamw", config=AdamConfig, help="AdamW: Adam with decoupled weight decay")
def build_adamw(config: AdamConfig, context: BuildContext):
    return _optimizer(torch.optim.AdamW, config)
