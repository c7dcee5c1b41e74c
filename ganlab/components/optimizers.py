"""Adam and AdamW, configured separately for the generator and the discriminator."""

from __future__ import annotations

import dataclasses
import functools

import torch

from ..config import param
from ..hookspecs import hookimpl
from ..protocols import BuildContext


@dataclasses.dataclass
class AdamConfig:
    lr: float = param(2e-4, "learning rate", min=0.0)
    betas: tuple[float, float] = param((0.5, 0.999), "momentum coefficients; DCGAN uses beta1 = 0.5")
    weight_decay: float = param(0.0, "L2 penalty (adam) or decoupled weight decay (adamw)", min=0.0)
    eps: float = param(1e-8, "term added to the denominator for numerical stability", min=0.0)

    def __post_init__(self):
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(self.betas)}")


def _factory(optimizer_cls: type[torch.optim.Optimizer]):
    def build(config: AdamConfig, context: BuildContext):
        return functools.partial(optimizer_cls, lr=config.lr, betas=tuple(config.betas),
                                 weight_decay=config.weight_decay, eps=config.eps)
    return build


@hookimpl
def ganlab_register(registry):
    registry.add("optimizer", "adam", _factory(torch.optim.Adam), AdamConfig, help="Adam (Kingma & Ba)")
    registry.add("optimizer", "adamw", _factory(torch.optim.AdamW), AdamConfig,
                 help="AdamW: Adam with decoupled weight decay")
