"""How the networks are prepared and updated for speed and scale, without changing what they compute.

The engine trains through these wrappers: synchronised batch norm and DistributedDataParallel across
processes, ``torch.compile``, autocast with a gradient scaler per network for fp16, and an exponential
moving average of the generator's weights.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..machine.cpu_features import this_cpu
from ..machine.distributed import World

log = logging.getLogger("ganlab.training.networks")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The forward-pass context for ``precision``; fp32 is a no-op."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def slow_precision(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` would make training on ``device`` slower than fp32, or None.

    bf16 and fp16 are speed options only where the hardware computes in them; on a CPU without the
    instructions torch emulates them, many times slower than fp32, which a user must hear before training.
    """
    cpu = this_cpu() if device.type == "cpu" and precision in _DTYPES else None
    if cpu is None or cpu.native(precision) is not False:
        return None
    return (
        f'train.precision = "{precision}": this CPU has no native {precision} instructions '
        f"({cpu.lacks(precision)}), so torch emulates them and training runs many times slower than with "
        '"fp32" (BENCHMARKS.md: Precision on the CPU); use "fp32" here, and bf16 or fp16 on a GPU'
    )


def warn_if_slow(precision: str, device: torch.device) -> None:
    """Say :func:`slow_precision`'s warning, if any, on standard error."""
    message = slow_precision(precision, device)
    if message is not None:
        log.warning("ganlab: warning: %s", message)


def for_training(
    module: nn.Module, world: World, device: torch.device, *, sync_batchnorm: bool, compile: bool
) -> tuple[nn.Module, nn.Module]:
    """(the module to train through, the plain module that owns the weights).

    The plain module is what state dicts, samples and evaluators use; the first may be a DDP and/or compiled
    wrapper around it. Sync batch norm replaces the plain module's batch-norm layers in place of the
    original (same state-dict keys).
    """
    if sync_batchnorm and world.distributed:
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    plain = module
    if world.distributed:
        module = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        module = torch.compile(module)
    return module, plain


def uncompiled(module: nn.Module) -> nn.Module:
    """``module`` without its ``torch.compile`` wrapper (a DDP wrapper stays), sharing its weights.

    A gradient penalty back-propagates twice (``create_graph``), which compiled modules do not support.
    """
    return getattr(module, "_orig_mod", module)


def no_sync(module: nn.Module) -> AbstractContextManager[Any]:
    """Skip DDP's gradient all-reduce for a backward whose gradients are thrown away.

    The generator's update back-propagates through the discriminator; those discriminator gradients
    are discarded by its next ``zero_grad``, so exchanging them between processes would be wasted.
    """
    inner = uncompiled(module)
    if isinstance(inner, DistributedDataParallel):
        return inner.no_sync()
    return contextlib.nullcontext()


@dataclasses.dataclass
class Updater:
    """One optimiser step for one network, with a gradient scaler when training in fp16."""

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def create(cls, optimizer: torch.optim.Optimizer, precision: str, device: torch.device) -> Updater:
        return cls(optimizer, torch.amp.GradScaler(device.type) if precision == "fp16" else None)

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()


class Shadow:
    """A copy of a network that is free of collective operations, for use by the main process alone.

    With synchronised batch norm every forward pass in training mode talks to all processes, so the
    main process cannot sample on its own through the training network. The shadow is taken before the
    conversion and refreshed from the live weights whenever it is used.
    """

    def __init__(self, module: nn.Module):
        self.module = copy.deepcopy(module)

    def current(self, live: nn.Module) -> nn.Module:
        self.module.load_state_dict(live.state_dict())
        return self.module


class EMA:
    """An exponential moving average of a generator's weights (Karras et al.'s "Gs").

    Averaged weights give visibly smoother samples and better FID than the raw weights of the last step;
    buffers (batch-norm statistics) are copied, not averaged. They belong to the raw weights, so samples do
    not use them: :mod:`ganlab.training.sampling` recomputes standing statistics for the averaged weights.
    """

    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(generator).requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for ema_buffer, buffer in zip(self.module.buffers(), generator.buffers()):
            ema_buffer.copy_(buffer)
