"""The levers as the training step pulls them: the augmentation every discriminator input goes through,
the regularizers due on a step, the learning rates the schedules set, and the numbers they log.

The step (:mod:`.step`) reads top to bottom as the DCGAN loop body with these calls in it; without levers
each is the identity or an empty loop, so a plain recipe pays nothing for them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
from torch import nn

from ..contracts.levers import Augment, Regularizer, RegularizerInputs, Schedule
from ..common.config import is_float32
from ..recipes.recipe import Component
from .conditioning import forward
from .networks import uncompiled
from .stopping import RunDiverged

RATE_KEYS = ("lr_g", "lr_d")
"""Logged every step: the learning rate of the generator's and of the discriminator's optimizer (its
first parameter group) in that step's updates."""


def regularizer_columns(sections: list[tuple[str, str]]) -> list[str]:
    """The log column of each regularizer, given (section, name) of each: ``reg_NAME``, and
    ``reg_NAME_INDEX`` for a name the recipe uses more than once, so every column is its own."""
    names = [name for _, name in sections]
    return [f"reg_{name}" if names.count(name) == 1 else f"reg_{name}_{section.split('[')[-1].rstrip(']')}"
            for section, name in sections]


def _unchanged(images: torch.Tensor) -> torch.Tensor:
    return images


@dataclasses.dataclass
class ScheduledRate:
    """One network's optimizer with its schedule (the recipe's ``section``): the rates its recipe section
    configures, times the schedule's factor of the step."""

    optimizer: torch.optim.Optimizer
    schedule: Schedule
    total_steps: int
    section: str

    def __post_init__(self) -> None:
        self.configured = [group["lr"] for group in self.optimizer.param_groups]

    def set(self, step: int) -> None:
        """Raises :class:`RunDiverged` before a rate that is no float32 (a factor that overflowed, or became
        NaN) reaches the optimizer, where it would fail inside torch or turn the weights to NaN."""
        factor = self._factor(step)
        for group, configured in zip(self.optimizer.param_groups, self.configured):
            rate = configured * factor
            if not is_float32(rate):
                raise RunDiverged(f"{self.section}: the learning rate became {rate!r} at step {step + 1} "
                                  f"({configured!r} times the schedule's factor {factor!r}); the last good "
                                  "checkpoint is kept")
            group["lr"] = rate

    def _factor(self, step: int) -> float:
        """The schedule's factor of ``step``; inf where computing it overflowed (``gamma ** k``)."""
        try:
            return self.schedule.factor(step, self.total_steps)
        except OverflowError:
            return math.inf

    @property
    def rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


class Levers:
    """What the training step calls of the levers, and the engine-side state they need (each
    regularizer's last term, logged on the steps between the ones it is due on)."""

    def __init__(self, augment: Augment | None, regularizers: list[tuple[Component, Regularizer]],
                 rates: tuple[ScheduledRate, ScheduledRate], generator: nn.Module, discriminator: nn.Module,
                 device: torch.device, conditional_d: bool = False):
        self.augment = augment
        self.seen: Callable[[torch.Tensor], torch.Tensor] = augment if augment is not None else _unchanged
        """The augmentation every image the discriminator sees goes through; the identity without one."""
        self.regularizers = regularizers
        self.rates = rates
        self.generator = uncompiled(generator)
        self.discriminator = uncompiled(discriminator)
        self.conditional_d = conditional_d
        self.last_terms = [torch.zeros((), device=device) for _ in regularizers]

    def set_rates(self, step: int) -> None:
        """Each optimizer's learning rates for the updates of ``step``."""
        for rate in self.rates:
            rate.set(step)

    def current_rates(self) -> list[float]:
        """:data:`RATE_KEYS`' values: host numbers, so logging them costs no transfer."""
        return [rate.rate for rate in self.rates]

    def regularized(self, network: str, step: int, loss: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
                    latents: torch.Tensor, real_labels: torch.Tensor | None = None,
                    fake_labels: torch.Tensor | None = None) -> torch.Tensor:
        """``loss`` of ``network`` plus ``interval * term`` of each of its regularizers due on ``step``,
        computed in fp32; call it outside autocast. The labels are None in an unconditional run."""
        for i, (_, regularizer) in enumerate(self.regularizers):
            if regularizer.applies_to != network or step % regularizer.interval:
                continue
            inputs = RegularizerInputs(real.detach().float(), fake.float(), latents, self._discriminate,
                                       self.generator, real_labels, fake_labels)
            term = regularizer.term(inputs)
            loss = loss + regularizer.interval * term
            self.last_terms[i] = term.detach().float()
        return loss

    def _discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return forward(self.discriminator, self.seen(images), labels, self.conditional_d).float()

    def observe(self, real_logits: torch.Tensor) -> None:
        """Let the augmentation steer by D's outputs on the real batch of the update just made."""
        if self.augment is not None:
            self.augment.observe(real_logits.detach())

    def logged(self) -> list[torch.Tensor]:
        """The levers' numbers of this step, on the device, in :meth:`columns`' order."""
        logged = list(self.augment.logged().values()) if self.augment is not None else []
        return [value.float() for value in logged] + self.last_terms

    def columns(self) -> list[str]:
        """The names of :meth:`logged`'s numbers in the step records."""
        augment = list(self.augment.logged()) if self.augment is not None else []
        return augment + regularizer_columns([(c.section, c.name) for c, _ in self.regularizers])
