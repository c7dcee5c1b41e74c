"""Learning-rate schedules: ``constant``, ``linear-decay``, ``cosine`` and ``step``, each with an optional
linear warm-up (:class:`ganlab.WarmupSchedule`, which plugin schedules extend too). Each gives, for every
step, the factor torch's own scheduler would (``LinearLR``, ``CosineAnnealingLR``, ``StepLR``, and
``SequentialLR`` behind a ``LinearLR`` warm-up), written as a function of the step so that a resumed run
needs no scheduler state to continue on the same rates.
"""

from __future__ import annotations

import dataclasses
import math

from ..common.config import param
from ..contracts.engine import BuildContext
from ..contracts.levers import WarmupConfig, WarmupSchedule
from ..registry.registry import component


@component(
    "schedule",
    "constant",
    config=WarmupConfig,
    help="the optimizer's learning rate throughout (after an optional warm-up)",
)
class Constant(WarmupSchedule):
    """The configured rate, once warmed up."""

    def after(self, step: int, steps: int) -> float:
        return 1.0


@dataclasses.dataclass
class LinearDecayConfig(WarmupConfig):
    start_step: int = param(0, "steps after the warm-up before the decay starts", min=0)
    end_factor: float = param(0.0, "the factor reached at the end of the run", min=0.0, max=1.0)


@component(
    "schedule",
    "linear-decay",
    config=LinearDecayConfig,
    help="constant until start_step, then linearly down to end_factor at the end of the run",
)
class LinearDecay(WarmupSchedule):
    """``LinearLR(start_factor=1, end_factor, total_iters)`` from ``start_step`` to the run's end."""

    def __init__(self, config: LinearDecayConfig, context: BuildContext | None = None):
        super().__init__(config)
        self.start_step, self.end_factor = config.start_step, config.end_factor

    def after(self, step: int, steps: int) -> float:
        decay_steps = max(steps - self.start_step, 1)
        done = min(max(step - self.start_step, 0), decay_steps)
        return 1.0 + (self.end_factor - 1.0) * done / decay_steps


@dataclasses.dataclass
class CosineConfig(WarmupConfig):
    min_factor: float = param(
        0.0, "the factor at the end of the run (CosineAnnealingLR's eta_min over the learning rate)", min=0.0, max=1.0
    )


@component(
    "schedule",
    "cosine",
    config=CosineConfig,
    help="half a cosine from the learning rate down to min_factor of it at the end of the run",
)
class Cosine(WarmupSchedule):
    """``CosineAnnealingLR(T_max=the steps after the warm-up, eta_min=min_factor * lr)``."""

    def __init__(self, config: CosineConfig, context: BuildContext | None = None):
        super().__init__(config)
        self.min_factor = config.min_factor

    def after(self, step: int, steps: int) -> float:
        return self.min_factor + (1.0 - self.min_factor) * (1.0 + math.cos(math.pi * step / steps)) / 2.0


@dataclasses.dataclass
class StepConfig(WarmupConfig):
    step_size: int = param(1000, "steps between two reductions", min=1)
    gamma: float = param(0.1, "the factor each reduction multiplies the rate by", min=0.0)


@component("schedule", "step", config=StepConfig, help="the rate multiplied by gamma every step_size steps")
class Steps(WarmupSchedule):
    """``StepLR(step_size, gamma)``."""

    def __init__(self, config: StepConfig, context: BuildContext | None = None):
        super().__init__(config)
        self.step_size, self.gamma = config.step_size, config.gamma

    def after(self, step: int, steps: int) -> float:
        return self.gamma ** (step // self.step_size)
