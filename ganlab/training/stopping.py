"""How a run stops early: a stop signal turned into a request honoured between two steps, and the errors
that end a run interrupted or diverged. Shared by the loop, which honours them, and the lifecycle, which
records them."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from ..common.errors import GanlabError
from ..contracts.engine import STOP_STATUS
from ..machine import signals
from ..rundir.rundir import STATUSES


class RunInterrupted(GanlabError):
    """Ctrl-C or SIGTERM during training: the run was marked interrupted (and, on the first signal,
    checkpointed). The exit code is the shell's for the signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = signals.exit_code(signum)


class RunDiverged(GanlabError):
    """A loss became NaN or infinite; the run stops with status ``diverged``."""

    exit_code = 7


@contextlib.contextmanager
def overflow_diverges(step: int) -> Iterator[None]:
    """Turn a number of training step ``step`` (from 0) outgrowing its type into :class:`RunDiverged`:
    Python's OverflowError, and torch's refusal to convert a number "without overflow" (an optimizer whose
    learning rate over ``1 - beta1`` exceeds float32), which would otherwise end the run failed."""
    try:
        yield
    except (OverflowError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "without overflow" not in str(e):
            raise
        raise RunDiverged(f"a number overflowed at step {step + 1} ({e}); the last good checkpoint is kept") from None


@dataclasses.dataclass(frozen=True)
class EarlyEnd:
    """A component's request to end the run before its last step (:meth:`ganlab.RunView.end_early`): the
    status meta.json records and why."""

    status: str
    reason: str


def early_end(status: Any, reason: Any) -> EarlyEnd:
    """The request ``end_early(status, reason)`` makes, checked: a ValueError names what is wrong, so that a
    component's mistake is its own error, never a run directory with a status nothing can read."""
    if not isinstance(status, str) or not STOP_STATUS.match(status) or status in STATUSES:
        raise ValueError(
            f"end_early: status {status!r} is not a lowercase word of a component's own (letters, digits, '-', "
            f"at most 32), such as 'pruned'; the engine's own statuses ({', '.join(STATUSES)}) are not for components"
        )
    if not isinstance(reason, str):
        raise ValueError(f"end_early: reason must be a string, got {type(reason).__name__}")
    return EarlyEnd(status, reason)


class RunEndedEarly(Exception):
    """The loop's way out once a component asked the run to end early and its checkpoint is written; the
    lifecycle records the run with the component's status. Not an error: the command succeeds."""

    def __init__(self, end: EarlyEnd):
        super().__init__(f"ended early ({end.status}): {end.reason}")
        self.end = end


FORWARDED_WITHIN_S = 2.0
"""Under torchrun a stop signal sent to every process (Ctrl-C in a terminal, ``kill`` of the process group,
Slurm) reaches each training process twice: directly, and forwarded by torchrun's agent an instant later.
A repeat this soon is that copy, not a second request to stop at once."""


@dataclasses.dataclass
class StopRequest:
    """Set by the first SIGINT or SIGTERM; the loop stops at the next step boundary and checkpoints there."""

    signum: int | None = None
    at: float = 0.0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        self.signum, self.at = signum, time.monotonic()


@contextlib.contextmanager
def graceful_interrupt(stop: StopRequest, forwarded_within: float = 0.0) -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into a :class:`StopRequest`, so the interrupted checkpoint is
    written between two steps, never half way through one; a second signal interrupts at once (the run
    then resumes from its last regular checkpoint), unless it comes within ``forwarded_within`` seconds of
    the first (see :data:`FORWARDED_WITHIN_S`). Signals reach only the main thread, so elsewhere this does
    nothing."""

    def handler(signum: int, frame: Any) -> None:
        if not stop.requested:
            stop.request(signum)
        elif time.monotonic() - stop.at >= forwarded_within:
            raise signals.Stopped(signum)

    with signals.handled_by(handler):
        yield
