"""How many threads torch computes with on the CPU, so that a run keeps its fair share of a busy machine.

Torch splits each CPU operation over OpenMP threads that meet at a barrier when it ends. When another
process holds one of the cores, the thread that the scheduler parks behind it makes every other thread
wait for its next time slice (milliseconds) at each of the thousands of barriers of a training step: on
2 cores beside 3 busy processes the quickstart's steps took 40x as long as alone, far beyond the 2x a
fair share would cost. One thread per core that is free when the run starts avoids the wait (BENCHMARKS.md,
"A busy machine", has the figures). The count is chosen once per run and recorded in meta.json: torch sums
in another order with another count, so a resumed run keeps its count to end bit for bit where an
uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator

import torch

from ..common.errors import warn

WINDOW_S = 0.1
"""How long the other processes' use of the cores is watched before a run chooses its thread count."""

BUSY_ENOUGH = 0.5
"""Cores' worth of other processes' work from which the machine counts as busy (less is noise)."""


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class CpuClock:
    """A reading of the machine's and this process's CPU time, to tell this process's use from others'."""

    wall: float
    machine_busy: float | None
    """Seconds the usable cores were not idle since boot (all processes); None where the system does not say."""
    own: float
    """CPU seconds of this process, all its threads."""

    @classmethod
    def now(cls) -> CpuClock:
        return cls(time.monotonic(), _busy_seconds_of_usable_cores(), time.process_time())

    def others_since(self, earlier: CpuClock) -> float | None:
        """Cores' worth of work other processes did between ``earlier`` and this reading (1.0: one core
        busy all along); None where the system does not say."""
        wall = self.wall - earlier.wall
        if self.machine_busy is None or earlier.machine_busy is None or wall <= 0:
            return None
        others = (self.machine_busy - earlier.machine_busy) - (self.own - earlier.own)
        return max(0.0, others / wall)


def _busy_seconds_of_usable_cores() -> float | None:
    """Non-idle seconds of this process's cores, from ``/proc/stat`` (Linux); None elsewhere."""
    try:
        cores = os.sched_getaffinity(0)
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat", encoding="ascii") as stat:
            lines = [line.split() for line in stat if line.startswith("cpu") and line[3].isdigit()]
    except (OSError, AttributeError, ValueError, IndexError):
        return None
    busy = 0
    for fields in lines:
        try:
            core, times = int(fields[0][3:]), [int(value) for value in fields[1:9]]
        except ValueError:
            return None
        if core in cores:  # user nice system idle iowait irq softirq steal: all but idle and iowait
            busy += sum(times) - times[3] - times[4]
    return busy / ticks


@dataclasses.dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    others: float | None
    """Cores' worth of other processes' work when the count was chosen; None where not measured."""
    reason: str


def choose_threads(setting: int, recorded: int | None = None) -> ThreadChoice:
    """The thread count for a run: ``train.threads`` when set (> 0); the count a resumed run was started
    with; the launcher's ``OMP_NUM_THREADS`` (torchrun and ``ganlab sweep`` set it to share the cores out);
    else one per core that other processes leave free, measured over :data:`WINDOW_S`."""
    cores = usable_cores()
    if setting > 0:
        return ThreadChoice(setting, cores, None, "train.threads")
    if recorded is not None and 0 < recorded <= cores:
        return ThreadChoice(recorded, cores, None, "the count the run was started with")
    if os.environ.get("OMP_NUM_THREADS"):
        return ThreadChoice(torch.get_num_threads(), cores, None, "OMP_NUM_THREADS")
    start = CpuClock.now()
    time.sleep(WINDOW_S)
    others = CpuClock.now().others_since(start)
    if others is None:
        return ThreadChoice(torch.get_num_threads(), cores, None, "torch's default")
    return ThreadChoice(free_threads(cores, others if others >= BUSY_ENOUGH else 0.0), cores, others, "the free cores")


def free_threads(cores: int, others: float) -> int:
    """One thread per core that ``others`` cores' worth of other processes' work leaves free, at least one."""
    return max(1, min(cores, int(cores - others + 0.5)))


@contextlib.contextmanager
def computing_with(choice: ThreadChoice) -> Iterator[None]:
    """Torch computes with ``choice.threads`` inside, and with the count it had before afterwards (a
    notebook's own work keeps its setting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(choice.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_text(count: int) -> str:
    return f"{count} thread" if count == 1 else f"{count} threads"


class ContentionWatch:
    """Warns, once per run, when other processes and the run's threads want more cores than there are.

    Read at the end of each epoch from the machine's CPU clock, which costs a file read and no waiting.
    """

    def __init__(self, choice: ThreadChoice):
        self.choice = choice
        self.since = CpuClock.now()
        self.warned = False
        if choice.others is not None and choice.others >= BUSY_ENOUGH:
            self.warned = True
            warn(
                f"other processes keep {choice.others:.1f} of this machine's {choice.cores} cores busy: "
                f"training computes with {threads_text(choice.threads)} (train.threads = 0 chose it); it will "
                f"be slower than on an idle machine"
            )

    def check(self, where: str) -> None:
        clock = CpuClock.now()
        others = clock.others_since(self.since)
        self.since = clock
        if self.warned or others is None or others < BUSY_ENOUGH:
            return
        if others + self.choice.threads > self.choice.cores + BUSY_ENOUGH:
            self.warned = True
            warn(
                f"other processes kept {others:.1f} of this machine's {self.choice.cores} cores busy during "
                f"{where} while training computed with {threads_text(self.choice.threads)} ({self.choice.reason}): "
                f"each step waits for a core; with fewer threads (train.threads = "
                f"{free_threads(self.choice.cores, others)}) or fewer processes it keeps its share"
            )
