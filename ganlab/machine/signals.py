"""How ganlab answers the signals that ask it to stop: SIGINT (Ctrl-C) and SIGTERM (what Docker, systemd,
Kubernetes, Slurm and torchrun send).

While a ``ganlab`` command runs (:class:`ganlab.cli.main.GanlabGroup`), both raise :class:`Stopped`, a
KeyboardInterrupt, so every ``finally`` and context manager on the way out cleans up as it does for
Ctrl-C (a half-built data cache is deleted, a run directory unlocked), and no ``except Exception``
swallows it. The command then exits with the shell's code for the signal, 128 + its number: 130 for
SIGINT, 143 for SIGTERM. Training turns the first signal into a stop at the next step boundary instead
(:func:`ganlab.training.stopping.graceful_interrupt`), and :func:`held` and :func:`deferred` keep the first one from
cutting short the setting up of a run directory or the writing of its final files. A second signal
always stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which, and so the exit code."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(interrupt: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: its own for :class:`Stopped`, else SIGINT (Python's default)."""
    return getattr(interrupt, "signum", signal.SIGINT)


def exit_code(signum: int) -> int:
    """The shell's exit code for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def describe(signum: int) -> str:
    """``Ctrl-C (SIGINT)`` or ``SIGTERM``: how the user knows the signal."""
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


_received: list[int] = []
"""Stop signals :func:`raise_stopped` turned into :class:`Stopped` during this command, oldest first."""


def raise_stopped(signum: int, frame: Any) -> None:
    """Raise :class:`Stopped`, and remember the signal: Python discards an exception raised where it cannot
    propagate (an at-fork callback while a cache build starts its decoders, a ``__del__``), so
    :func:`raise_if_stopped` raises it again at the next point that looks."""
    _received.append(signum)
    raise Stopped(signum)


def raise_if_stopped() -> None:
    """Raise :class:`Stopped` for a stop signal whose exception Python discarded, if one came."""
    if _received:
        raise Stopped(_received[0])


def _quiet_about_stops(unraisable: Any) -> None:
    """The ``sys.unraisablehook`` of a command: a discarded :class:`Stopped` prints no traceback (it is
    raised again by :func:`raise_if_stopped`); anything else is reported as Python would."""
    if not isinstance(unraisable.exc_value, Stopped):
        sys.__unraisablehook__(unraisable)


@contextlib.contextmanager
def stopping_commands() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` inside the block, and a :class:`Stopped` that Python
    discards prints nothing (the block calls :func:`raise_if_stopped` where it may stop): what every
    ``ganlab`` command runs under."""
    _received.clear()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_about_stops
    try:
        with handled_by(raise_stopped):
            yield
    finally:
        sys.unraisablehook = previous_hook


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def leave_stopping_to_parent() -> None:
    """For helper processes (a cache build's decoders): ignore Ctrl-C and die of SIGTERM at once. The
    terminal sends Ctrl-C to every process of the command; the parent alone decides how to stop, and ends
    its helpers itself, while inherited handlers would make each helper print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def handled_by(handler: Callable[[int, Any], None] | signal.Handlers) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``handler`` inside the block (:func:`raise_stopped`, say, since SIGTERM's
    default kills the process outright, leaving a run marked ``running`` and a cache folder half built);
    changes nothing off the main thread, where signals never arrive."""
    if not _on_main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            if old is not None:  # None: set outside Python, and not restorable from it
                signal.signal(signum, old)


@contextlib.contextmanager
def held() -> Iterator[list[int]]:
    """Hold the first stop signal while the block runs, in the list it yields; a second one stops at once,
    as everywhere. For work that must not be cut in half, such as setting up a run directory."""
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if received:
            raise Stopped(signum)
        received.append(signum)

    with handled_by(hold):
        yield received


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the first stop signal until the block ends, then raise :class:`Stopped` for it.

    For short writes such as a run's final meta.json and report: a signal while they are written would
    leave a run marked ``running`` without its report.
    """
    with held() as received:
        yield
    if received:
        raise Stopped(received[0])
