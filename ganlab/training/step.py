"""The training step: the discriminator phase (``train.d_steps`` updates, each on a fresh real batch and a
detached fake batch), then the generator phase, which scores the last fake batch again through the
updated discriminator (as pytorch/examples' dcgan does, which saves one generator forward per step), and
the last real batch too only for a loss whose generator loss needs it.

Read top to bottom it is pytorch/examples' dcgan loop body with the levers pulled where they act (the
learning rates set, every discriminator input augmented, the regularizers due added to their losses, the
augmentation told what D made of the real batch: :mod:`.levers`); the loop (:mod:`.loop`) owns everything
around it (data, logging, evaluators, checkpoints).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from ..data.loader import Batch
from ..contracts.engine import Loss
from .conditioning import WithLabels, forward
from .levers import Levers
from .networks import EMA, Updater, autocast, no_sync, uncompiled
from .sampling import to_model_range

METRIC_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
"""Logged every step: the two losses, and mean D(x) and D(G(z)) as the loss's scores (before the D update;
meta.json's ``scores`` says what they are: probabilities for BCE, raw critic scores for WGAN)."""


@dataclasses.dataclass
class TrainingStep:
    """What one step trains with: the networks as trained (wrapped for several processes or compiled), their
    updaters, the loss, and where latents come from (this process's share of the global batch, with the
    generator's labels drawn right after them: None when neither network is conditional)."""

    train_g: nn.Module
    train_d: nn.Module
    update_g: Updater
    update_d: Updater
    loss: Loss
    latents: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
    device: torch.device
    precision: str
    memory_format: torch.memory_format
    ema: EMA | None
    generator: nn.Module
    """The generator the EMA averages (the unwrapped one)."""
    levers: Levers
    conditional_g: bool = False
    conditional_d: bool = False
    """Whether the networks take labels (``conditional = True``)."""

    def __call__(self, real_batches: list[Batch], step: int) -> torch.Tensor:
        """Generator update number ``step`` (from 0) on ``real_batches`` (``train.d_steps`` of them, uint8
        with their labels): the step's :data:`METRIC_KEYS` and then the levers' numbers, still on the
        device."""
        loss = self.loss
        precision = self.precision
        memory_format = self.memory_format
        levers = self.levers
        seen = levers.seen
        levers.set_rates(step)

        def d(images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
            """The discriminator, given the images' labels when it takes them."""
            return forward(self.train_d, images, labels, self.conditional_d)
        for i, (real_u8, real_y) in enumerate(real_batches):
            real = to_model_range(real_u8.to(self.device, non_blocking=True)).contiguous(
                memory_format=memory_format)
            real_y = real_y.to(self.device, non_blocking=True) if real_y is not None else None
            z, fake_y = self.latents(real.shape[0])
            with torch.set_grad_enabled(i == len(real_batches) - 1), autocast(precision, self.device):
                fake = forward(self.train_g, z, fake_y, self.conditional_g)
            real_seen, fake_seen = seen(real), seen(fake.detach())
            with autocast(precision, self.device):
                real_logits = d(real_seen, real_y).float()
                fake_logits = d(fake_seen, fake_y).float()
            loss_d = loss.discriminator_loss(real_logits, fake_logits)
            judge = uncompiled(self.train_d)
            judge = WithLabels(judge, real_y) if self.conditional_d else judge
            penalty = loss.penalty(judge, real, fake.detach().float())  # fp32: see Loss
            if penalty is not None:
                loss_d = loss_d + penalty
            loss_d = levers.regularized("discriminator", step, loss_d, real, fake.detach(), z,   # fp32
                                        real_y, fake_y)
            self.update_d.step(loss_d)
            levers.observe(real_logits)
        with no_sync(self.train_d):
            fake_seen = seen(fake)
            with autocast(precision, self.device):
                gen_logits = d(fake_seen, fake_y).float()
                with torch.no_grad():
                    real_again = d(seen(real), real_y).float() if loss.generator_needs_real else None
            loss_g = loss.generator_loss(gen_logits, real_again)
            loss_g = levers.regularized("generator", step, loss_g, real, fake, z, real_y, fake_y)    # fp32
        self.update_g.step(loss_g)
        if self.ema is not None:
            self.ema.update(self.generator)
        with torch.no_grad():
            return torch.stack([loss_d.detach(), loss_g.detach(),
                                loss.scores(real_logits.detach()).mean(),
                                loss.scores(fake_logits.detach()).mean(), *levers.logged()]).float()
