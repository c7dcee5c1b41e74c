"""Contracts ganlab declared but never checked, kept until ganlab 0.6 for plugins that import them.

``ganlab.ConditionalDiscriminator``, ``ganlab.OptimizerFactory`` and ``ganlab.InitScheme`` named shapes
the engine never tested a component against, so a plugin that matched them was told nothing it could rely
on. What the engine does check is documented where it checks it: a network takes labels when it says
``conditional = True`` (:mod:`ganlab.contracts.engine`), an ``optimizer`` component is called with a
network's parameters and must return a ``torch.optim.Optimizer``, and an ``init`` component is called
once on each network. :func:`ganlab.__getattr__` serves these names with a DeprecationWarning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class ConditionalDiscriminator(Protocol):
    """A discriminator that takes labels with the images: ``conditional = True``, and ``(images, labels)``
    -> one raw output per image."""

    conditional: bool

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
"""What an ``optimizer`` component is: parameters in, a ready ``torch.optim.Optimizer`` out."""

InitScheme = Callable[[nn.Module], None]
"""What an ``init`` component is: called once on each network, modifies its weights in place."""

RETIRED = {
    "ConditionalDiscriminator": ConditionalDiscriminator,
    "OptimizerFactory": OptimizerFactory,
    "InitScheme": InitScheme,
}
"""The names :func:`ganlab.__getattr__` still serves, with a DeprecationWarning."""
