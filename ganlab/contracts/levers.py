"""The contracts of the levers an experimenter pulls after plain DCGAN: augmentation, regularizers and
learning-rate schedules, the components that change how a run trains. Like :mod:`ganlab.contracts.engine`,
the engine knows these and nothing else of the components that implement them; built-ins and plugin
packages implement the same ones.

Each is an abstract base class a factory must return an instance of (checked before training). Every
one may keep state between steps; whatever it returns from ``state_dict`` goes into every checkpoint and
comes back through ``load_state_dict`` on resume, so that a resumed run continues bit for bit.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ..common.config import param
from .engine import BuildContext, Stateful


class Augment(Stateful, abc.ABC):
    """Base class for ``augment`` components (the recipe's ``[augment]`` section): a differentiable
    transform of every image the discriminator sees, real and generated, in both phases of a step
    (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020). It is what keeps a discriminator from
    memorising a small data set while leaking no augmentation into the generator's images.
    """

    @abc.abstractmethod
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` float ``(N, C, H, W)`` in [-1, 1], possibly requiring gradients (generated images in
        the generator's phase, the images a gradient penalty differentiates at); returns a batch of the same
        shape whose gradients flow back to ``images``.

        Called separately on each real and each generated batch, so each gets its own draw. Random numbers
        drawn per image must come from :func:`ganlab.draw_for_global_batch` on torch's default generator of
        the images' device: several processes then draw what one process would, and the engine's
        checkpoint of that generator makes a resumed run draw what the uninterrupted one drew.
        """

    def observe(self, real_logits: torch.Tensor) -> None:
        """After each discriminator update: D's raw outputs on that update's augmented real batch,
        detached, on the device (this process's share of the batch). An adaptive augmentation steers by
        them; average them with :func:`ganlab.mean_over_processes` so all processes steer alike. Keep the
        arithmetic on the device: fetching a number to the host here would stall every step."""

    def logged(self) -> dict[str, torch.Tensor]:
        """Numbers to log every step beside the losses, as 0-d tensors on the device (fetched with the
        step's own numbers, never one by one), under the same keys every step: ADA's ``augment_p``."""
        return {}


@dataclasses.dataclass(frozen=True)
class RegularizerInputs:
    """What a regularizer's term may be computed from, for one update of the network it regularizes.

    ``real`` and ``fake`` are float32 in [-1, 1]; ``real`` is detached, and so is ``fake`` in the
    discriminator's phase (in the generator's it is attached to the generator's graph).
    ``discriminate(images, labels, augment=True)`` gives the discriminator's raw outputs (float32, ``(N,)``)
    for images as the loss sees them, the run's augmentation applied (``augment=False``: without it); it
    runs outside autocast on the uncompiled network, so it can be differentiated twice (``create_graph``).
    A loss's :meth:`~ganlab.Loss.penalty` sees the discriminator the same way. In a conditional run the
    discriminator judges an image together with its labels: pass ``real_labels`` with real images and
    ``fake_labels`` with generated ones (both None in an unconditional run, where ``labels`` may be left
    out; a conditional discriminator without them is a ValueError).
    ``latents`` made ``fake``; ``generator`` is the uncompiled generator.
    """

    real: torch.Tensor
    fake: torch.Tensor
    latents: torch.Tensor
    discriminate: Callable[..., torch.Tensor]
    generator: nn.Module
    real_labels: torch.Tensor | None = None
    fake_labels: torch.Tensor | None = None


class Regularizer(Stateful, abc.ABC):
    """Base class for ``regularizer`` components (the recipe's ``[[regularizers]]`` array): a term added to
    one network's loss every ``interval`` steps, with the weight multiplied by ``interval``: lazy
    regularisation (Karras et al. 2020), which keeps the regularisation's strength and pays its cost on a
    fraction of the steps. R1 and R2 (Mescheder et al. 2018) are the classic pair for the discriminator.

    ``applies_to`` and ``interval`` are read by the engine; a factory sets them (usually from its config).
    """

    applies_to: Literal["discriminator", "generator"] = "discriminator"
    interval: int = 1

    def check_discriminator(self, discriminator: nn.Module) -> None:
        """Raise :class:`ganlab.ConfigError` before training when the recipe pairs the regularizer with a
        discriminator it cannot work with (a per-image gradient penalty is wrong under batch norm), as
        :meth:`ganlab.Loss.check_discriminator` does for a loss. Accepts any by default."""

    @abc.abstractmethod
    def term(self, inputs: RegularizerInputs) -> torch.Tensor:
        """The term as a scalar tensor, before the interval's scaling. The engine calls it, computes
        ``loss + interval * term`` and logs the term, in every update of ``applies_to`` during a step whose
        index (generator updates before it) is a multiple of ``interval``."""


class Schedule(abc.ABC):
    """Base class for ``schedule`` components (``[schedule.generator]``, ``[schedule.discriminator]``): the
    learning rate of one network's optimizer over the run, as a factor of the rate its optimizer section
    sets (TTUR, Heusel et al. 2017, sets the two rates apart; a decay ends a run gently).

    A function of the step alone, so a resumed run continues on the same rates with no state to save.
    """

    @abc.abstractmethod
    def factor(self, step: int, total_steps: int) -> float:
        """The multiplier of the optimizer's configured learning rate for the generator update with index
        ``step`` (0 for the first) of a run of ``total_steps`` updates. The engine sets every parameter
        group's rate to its configured rate times this before that update, and logs the rates."""


@dataclasses.dataclass
class WarmupConfig:
    """The warm-up settings every built-in schedule takes; a plugin schedule's config extends it to take
    them too (``class MyConfig(ganlab.WarmupConfig)``)."""

    warmup_steps: int = param(0, "steps of linear warm-up before the schedule starts; 0 is none", min=0)
    warmup_start_factor: float = param(
        1 / 3,
        "the factor of the first warm-up step (torch's LinearLR default), rising linearly to 1",
        min=1e-8,
        max=1.0,
    )


class WarmupSchedule(Schedule):
    """A :class:`Schedule` with the built-ins' linear warm-up, so that a plugin schedule gets it without
    copying it: a linear rise from ``warmup_start_factor`` to 1 over ``warmup_steps`` steps, then
    :meth:`after` on the steps that remain, counted from 0 again as torch's ``SequentialLR`` restarts the
    scheduler that follows a ``LinearLR`` warm-up. Built from a :class:`WarmupConfig` (or a subclass)."""

    def __init__(self, config: WarmupConfig, context: BuildContext | None = None):
        self.warmup_steps = config.warmup_steps
        self.start_factor = config.warmup_start_factor

    def factor(self, step: int, total_steps: int) -> float:
        if step < self.warmup_steps:
            return self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps
        return self.after(step - self.warmup_steps, max(total_steps - self.warmup_steps, 1))

    @abc.abstractmethod
    def after(self, step: int, steps: int) -> float:
        """The factor of update ``step`` (from 0) of the ``steps`` that follow the warm-up."""
