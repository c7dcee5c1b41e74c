"""The training step, and everything it calls of the engine: the one way the discriminator is called
(:class:`Discriminate`) and the levers as the step pulls them (:class:`Levers`).

A step is the discriminator phase (``train.d_steps`` updates, each on a fresh real batch and a detached
fake batch), then the generator phase, which scores the last fake batch again through the updated
discriminator (as pytorch/examples' dcgan does, which saves one generator forward per step), and the last
real batch too only for a loss whose generator loss needs it. Read top to bottom, :meth:`TrainingStep.__call__`
is pytorch/examples' dcgan loop body with the levers pulled where they act: the learning rates set, every
discriminator input augmented (inside :class:`Discriminate`), the penalty and the regularizers due added to
the losses, the augmentation told what D made of the real batch. Without levers each is the identity or an
empty loop, so a plain recipe pays nothing for them. The loop (:mod:`.loop`) owns everything around the
step (data, logging, evaluators, checkpoints); :mod:`.networks` only wraps the networks for speed and scale.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from ..common.config import is_float32
from ..contracts.engine import Loss
from ..contracts.levers import Augment, Regularizer, RegularizerInputs, Schedule
from ..data.loader import Batch
from ..recipes.recipe import Component
from .conditioning import forward
from .networks import EMA, Updater, autocast, no_sync, uncompiled
from .sampling import to_model_range
from .stopping import RunDiverged

METRIC_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
"""Logged every step: the two losses, and mean D(x) and D(G(z)) as the loss's scores (before the D update;
meta.json's ``scores`` says what they are: probabilities for BCE, raw critic scores for WGAN)."""

RATE_KEYS = ("lr_g", "lr_d")
"""Logged every step: the learning rate of the generator's and of the discriminator's optimizer (its
first parameter group) in that step's updates."""


@dataclasses.dataclass(kw_only=True)
class TrainingStep:
    """What one step trains with. Built with keywords: it holds pairs of a kind (two networks, two updaters),
    which a caller passing them by position could swap unnoticed."""

    train_g: nn.Module
    """The generator as trained (wrapped for several processes or compiled)."""
    generator: nn.Module
    """The same generator unwrapped: what the EMA averages."""
    conditional_g: bool = False
    """Whether the generator takes labels (``conditional = True``)."""
    discriminate: Discriminate
    """The discriminator as trained, with the run's augmentation: every D call of the step goes through it."""
    update_g: Updater
    update_d: Updater
    loss: Loss
    levers: Levers
    latents: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
    """This process's share of a global batch of latents, with the generator's labels drawn right after
    them (None when neither network is conditional)."""
    device: torch.device
    precision: str
    memory_format: torch.memory_format = torch.contiguous_format
    ema: EMA | None = None

    def __call__(self, real_batches: list[Batch], step: int) -> torch.Tensor:
        """Generator update number ``step`` (from 0) on ``real_batches`` (``train.d_steps`` of them, uint8
        with their labels): the step's :data:`METRIC_KEYS` and then the levers' numbers, still on the
        device."""
        loss, levers, discriminate = self.loss, self.levers, self.discriminate
        penalised = discriminate.differentiable_twice()  # D as a penalty and a regularizer see it
        regularized_g = uncompiled(self.train_g)
        levers.set_rates(step)
        for i, (real_u8, real_y) in enumerate(real_batches):
            real = to_model_range(real_u8.to(self.device, non_blocking=True)).contiguous(
                memory_format=self.memory_format
            )
            real_y = real_y.to(self.device, non_blocking=True) if real_y is not None else None
            z, fake_y = self.latents(real.shape[0])
            with torch.set_grad_enabled(i == len(real_batches) - 1), autocast(self.precision, self.device):
                fake = forward(self.train_g, z, fake_y, self.conditional_g)
            real_logits = discriminate(real, real_y)
            fake_logits = discriminate(fake.detach(), fake_y)
            loss_d = loss.discriminator_loss(real_logits, fake_logits)
            penalty = loss.penalty(penalised.under(real_y), real, fake.detach().float())
            if penalty is not None:
                loss_d = loss_d + penalty
            loss_d = levers.regularized(
                "discriminator",
                step,
                loss_d,
                real=real,
                fake=fake.detach(),
                latents=z,
                real_labels=real_y,
                fake_labels=fake_y,
                discriminate=penalised,
                generator=regularized_g,
            )
            self.update_d.step(loss_d)
            levers.observe(real_logits)
        with no_sync(discriminate.network):
            gen_logits = discriminate(fake, fake_y)
            with torch.no_grad():
                real_again = discriminate(real, real_y) if loss.generator_needs_real else None
            loss_g = loss.generator_loss(gen_logits, real_again)
            loss_g = levers.regularized(
                "generator",
                step,
                loss_g,
                real=real,
                fake=fake,
                latents=z,
                real_labels=real_y,
                fake_labels=fake_y,
                discriminate=penalised,
                generator=regularized_g,
            )
        self.update_g.step(loss_g)
        if self.ema is not None:
            self.ema.update(self.generator)
        with torch.no_grad():
            return torch.stack(
                [
                    loss_d.detach(),
                    loss_g.detach(),
                    loss.scores(real_logits.detach()).mean(),
                    loss.scores(fake_logits.detach()).mean(),
                    *levers.logged(),
                ]
            ).float()


@dataclasses.dataclass(frozen=True)
class Discriminate:
    """The one way ganlab calls the discriminator: the step's two phases, a loss's penalty, the regularizers
    (:attr:`ganlab.RegularizerInputs.discriminate`) and what evaluators see (``RunView.discriminate``).

    ``discriminate(images, labels, augment=True)`` gives D's raw outputs, float32 ``(N,)`` (one per image,
    checked when the recipe is built). It owns the four things every caller would otherwise repeat: the
    labels, passed only to a ``conditional`` network and required by one; the run's ``augmentation``,
    applied outside autocast unless ``augment=False`` (each call its own draw); the ``precision`` D runs
    in (autocast; "fp32" runs outside it); and which ``network`` runs, the one as trained (compiled, DDP)
    or, :meth:`differentiable_twice`, without ``torch.compile``.
    """

    network: nn.Module
    conditional: bool = False
    augmentation: Augment | None = None
    precision: str = "fp32"

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None, augment: bool = True) -> torch.Tensor:
        if self.conditional and labels is None:
            raise ValueError(
                "the run's discriminator is conditional: discriminate(images, labels) needs the images' labels"
            )
        if augment and self.augmentation is not None:
            images = self.augmentation(images)
        with autocast(self.precision, images.device):
            return forward(self.network, images, labels, self.conditional).float()

    def differentiable_twice(self) -> Discriminate:
        """The same discriminator, uncompiled and in fp32: what a gradient penalty differentiates.

        ``torch.compile`` cannot back-propagate twice (``create_graph``), and an inner gradient taken in
        fp32 needs no gradient scaling (in fp16 an unscaled one could underflow to zero). The augmentation
        stays: the loss trains D on augmented images, so a penalty or a regularizer constrains that same
        function (as StyleGAN2-ADA's and DiffAugment's R1 do), and a loss's penalty and a regularizer see
        D alike.
        """
        return dataclasses.replace(self, network=uncompiled(self.network), precision="fp32")

    def under(self, labels: torch.Tensor | None) -> nn.Module:
        """This discriminator as a module of images alone, judging them under ``labels`` (ignored by an
        unconditional one): what :meth:`ganlab.Loss.penalty` receives, with the real images' labels."""
        return UnderLabels(self, labels)


class UnderLabels(nn.Module):
    """A :class:`Discriminate` with its labels fixed, as an ``nn.Module`` of images alone: a loss's
    ``penalty(discriminator, real, fake)`` calls ``discriminator(images)``, and reads it as a module (its
    parameters, ``training``). A call with fewer images scores them under the first labels."""

    def __init__(self, discriminate: Discriminate, labels: torch.Tensor | None):
        super().__init__()
        self.network = discriminate.network
        self.discriminate = discriminate
        self.labels = labels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.discriminate(images, self.labels[: len(images)] if self.labels is not None else None)


def regularizer_columns(sections: list[tuple[str, str]]) -> list[str]:
    """The log column of each regularizer, given (section, name) of each: ``reg_NAME``, and
    ``reg_NAME_INDEX`` for a name the recipe uses more than once, so every column is its own."""
    names = [name for _, name in sections]
    return [
        f"reg_{name}" if names.count(name) == 1 else f"reg_{name}_{section.split('[')[-1].rstrip(']')}"
        for section, name in sections
    ]


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
                raise RunDiverged(
                    f"{self.section}: the learning rate became {rate!r} at step {step + 1} "
                    f"({configured!r} times the schedule's factor {factor!r}); the last good "
                    "checkpoint is kept"
                )
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
    """The levers' state and what the step calls of them: the augmentation (which :class:`Discriminate`
    applies; here for its steering, its logged numbers and its checkpointed state), the regularizers with
    the term each logged last (logged again on the steps between the ones it is due on) and the scheduled
    learning rates. The networks a regularizer needs come with each call, from the step."""

    def __init__(
        self,
        *,
        augment: Augment | None,
        regularizers: list[tuple[Component, Regularizer]],
        rates: tuple[ScheduledRate, ScheduledRate],
        device: torch.device,
    ):
        self.augment = augment
        self.regularizers = regularizers
        self.rates = rates
        self.last_terms = [torch.zeros((), device=device) for _ in regularizers]

    def set_rates(self, step: int) -> None:
        """Each optimizer's learning rates for the updates of ``step``."""
        for rate in self.rates:
            rate.set(step)

    def current_rates(self) -> list[float]:
        """:data:`RATE_KEYS`' values: host numbers, so logging them costs no transfer."""
        return [rate.rate for rate in self.rates]

    def regularized(
        self,
        network: str,
        step: int,
        loss: torch.Tensor,
        *,
        real: torch.Tensor,
        fake: torch.Tensor,
        latents: torch.Tensor,
        real_labels: torch.Tensor | None,
        fake_labels: torch.Tensor | None,
        discriminate: Discriminate,
        generator: nn.Module,
    ) -> torch.Tensor:
        """``loss`` of ``network`` plus ``interval * term`` of each of its regularizers due on ``step``,
        computed in fp32; call it outside autocast. The labels are None in an unconditional run. The
        :class:`~ganlab.RegularizerInputs` are made only on a step where a regularizer is due."""
        for i, (_, regularizer) in enumerate(self.regularizers):
            if regularizer.applies_to != network or step % regularizer.interval:
                continue
            inputs = RegularizerInputs(
                real.detach().float(), fake.float(), latents, discriminate, generator, real_labels, fake_labels
            )
            term = regularizer.term(inputs)
            loss = loss + regularizer.interval * term
            self.last_terms[i] = term.detach().float()
        return loss

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
