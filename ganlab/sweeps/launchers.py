"""The two ways a sweep's runs are launched, each an existing tool rather than a scheduler of our own:
``ganlab run`` processes on this machine, a few at a time, or submitit jobs (Slurm, or submitit's local
executor where there is no Slurm).

Each is made first, which checks that it can launch here and prepares its folder, and then runs the
tasks. The tasks are drawn one at a time, as a place frees up, so a caller may decide the next task from
how the earlier ones ended (``ganlab tune`` asks its sampler for the next trial only then). Both call
``on_end`` with each task as its run ends, in the order they end, and both answer a stop signal the way
``ganlab run`` does: each live run gets the signal once (checkpoint, status ``interrupted``), the
launcher waits for it to end, then the stop goes on up as a KeyboardInterrupt. A second signal is passed
on too, which stops the runs at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..common.errors import GanlabError, RunError
from ..common.files import unusual
from ..machine import signals
from ..machine.threads import usable_cores
from ..rundir.rundir import ensure_writable_folder, now_iso
from .plan import PlannedRun

POLL_S = 0.2
"""How often the launchers look whether a run has ended."""
LOGS = "logs"
"""The sweep's folder of what each run printed (local launcher): ``logs/<run>.log``."""
SUBMITIT = "submitit"
"""The sweep's folder of submitit's own files (submitit launcher)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """One run to launch: started from the recipe, or ``resume``\\d from its directory."""

    run: PlannedRun
    resume: bool


@dataclasses.dataclass(frozen=True)
class SweepTarget:
    """What every task of a sweep shares: the recipe, its shared overrides, the sweep's folder."""

    recipe: Path
    overrides: tuple[str, ...]
    folder: Path


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """What submitit is told about each job; None leaves submitit's default. ``cluster``: ``auto`` lets
    submitit pick (Slurm where ``sbatch`` is, else its local executor), ``slurm`` or ``local`` force one."""

    cluster: str = "auto"
    partition: str | None = None
    time_min: int | None = None
    gpus: int | None = None
    cpus: int | None = None
    mem_gb: int | None = None

    def parameters(self) -> dict[str, Any]:
        wanted = {
            "slurm_partition": self.partition,
            "timeout_min": self.time_min,
            "gpus_per_node": self.gpus,
            "cpus_per_task": self.cpus,
            "mem_gb": self.mem_gb,
        }
        return {key: value for key, value in wanted.items() if value is not None}


def run_command(task: Task, target: SweepTarget) -> list[str]:
    """The ``ganlab run`` command line of a task, as ``ganlab run`` is run by hand."""
    command = [sys.executable, "-m", "ganlab", "run", "--no-progress"]
    if task.resume:
        return command + ["--resume", str(target.folder / task.run.name)]
    sets = [a for o in [*target.overrides, *task.run.overrides] for a in ("--set", o)]
    return command + [str(target.recipe), *sets, "--out", str(target.folder), "--name", task.run.name, "--exact-name"]


class LocalLauncher:
    """Runs the tasks as ``ganlab run`` processes, ``jobs`` at a time, each with ``threads`` torch threads
    (OMP_NUM_THREADS, MKL_NUM_THREADS; by default the usable cores shared out between the processes, so
    that they do not fight over them); each process's output goes to ``logs/<run>.log`` in the sweep's
    folder. The number of threads changes the order torch sums in, so the last bits of a run's numbers:
    the same ``threads`` gives the same numbers bit for bit, whatever ``jobs``.

    Made before the sweep records anything: a logs folder it cannot write is a RunError while the sweep's
    folder is still as it was."""

    def __init__(self, target: SweepTarget, jobs: int, threads: int | None = None):
        ensure_writable_folder(target.folder / LOGS, "the sweep's logs: ")
        per_run = str(threads or max(1, usable_cores() // jobs))
        self.target, self.jobs = target, jobs
        self.environment = {**os.environ, "OMP_NUM_THREADS": per_run, "MKL_NUM_THREADS": per_run}

    def run(self, tasks: Iterable[Task], on_end: Callable[[Task], None]) -> None:
        """A stop signal, or an error while the runs run (a run that cannot start, a manifest that cannot
        be written), reaches every live run once, as a stop signal does, so none is left running unseen."""
        waiting, running = Drawn(tasks), {}
        try:
            while running or not waiting.empty:
                while len(running) < self.jobs and (task := waiting.next()) is not None:
                    running[task] = self._start(task)
                time.sleep(POLL_S)
                for task, process in list(running.items()):
                    if process.poll() is not None:
                        del running[task]
                        on_end(task)
        except (KeyboardInterrupt, GanlabError) as stop:
            _stop_all(list(running.values()), signals.signal_of(stop))
            for task in running:
                on_end(task)
            raise

    def _start(self, task: Task) -> subprocess.Popen:
        """Start a task's process in a session of its own: the terminal's Ctrl-C reaches only the sweep,
        which passes it on once (two would stop the run at once, without its checkpoint)."""
        log_path = self.target.folder / LOGS / f"{task.run.name}.log"
        kind = unusual(log_path)  # opening a named pipe to append waits for a reader forever
        if kind is not None:
            raise RunError(f"the log of run {task.run.name}, {str(log_path)!r}, {kind}; move it away")
        try:
            log = open(log_path, "a", encoding="utf-8")
        except OSError as e:
            raise RunError(
                f"cannot write the log of run {task.run.name}, {str(log_path)!r}: {e.strerror or e}"
            ) from None
        with log:
            log.write(f"== {now_iso()} ganlab sweep: {'resume' if task.resume else 'start'} {task.run.name}\n")
            log.flush()
            try:
                return subprocess.Popen(
                    run_command(task, self.target),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.environment,
                    start_new_session=True,
                )
            except OSError as e:
                raise GanlabError(f"cannot start run {task.run.name}: {e.strerror or e}") from None


class Drawn:
    """The tasks, drawn one at a time when a launcher has room for one: a task made on demand is made
    only then."""

    def __init__(self, tasks: Iterable[Task]):
        self.tasks: Iterator[Task] = iter(tasks)
        self.empty = False

    def next(self) -> Task | None:
        if not self.empty:
            task = next(self.tasks, None)
            self.empty = task is None
            return task
        return None


def _stop_all(processes: list[subprocess.Popen], signum: int) -> None:
    """Send ``signum`` to every live process and wait for each to end; a signal that comes meanwhile is
    sent on too."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signum)
    while any(process.poll() is None for process in processes):
        try:
            time.sleep(POLL_S)
        except KeyboardInterrupt as again:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signals.signal_of(again))


class SubmititLauncher:
    """Submits every task as a submitit job running :func:`ganlab.sweeps.job.run_job`, then waits for them.
    Submitit's files are in ``submitit/``.

    Made before the sweep records anything, so a sweep submitit cannot run (not installed, no Slurm where
    Slurm is asked for) is refused while the sweep's folder is still as it was."""

    def __init__(self, target: SweepTarget, slurm: SlurmOptions, at_once: int | None = None):
        try:
            import submitit
        except ImportError:
            raise GanlabError(
                "--launcher submitit needs submitit, which is not installed: pip install submitit"
            ) from None
        folder = target.folder / SUBMITIT
        try:
            self.executor = submitit.AutoExecutor(
                folder=folder, cluster=None if slurm.cluster == "auto" else slurm.cluster
            )
        except (RuntimeError, ValueError) as e:
            raise GanlabError(f"--launcher submitit: submitit cannot run jobs here ({e})") from None
        except OSError as e:
            raise RunError(f"cannot write submitit's folder {str(folder)!r}: {e.strerror or e}") from None
        self.executor.update_parameters(name=f"ganlab-{target.folder.name}", **slurm.parameters())
        self.target, self.at_once = target, at_once

    def run(self, tasks: Iterable[Task], on_end: Callable[[Task], None]) -> None:
        """Every task is submitted at once, or ``at_once`` at a time. A stop signal, or an error while the
        jobs run (a job the scheduler refuses, a manifest that cannot be written), cancels the jobs still
        running (submitit sends them SIGINT locally, scancel SIGTERM on Slurm: both checkpoint the run and
        mark it ``interrupted``)."""
        waiting, submitted = Drawn(tasks), {}
        try:
            while submitted or not waiting.empty:
                while (self.at_once is None or len(submitted) < self.at_once) and (task := waiting.next()) is not None:
                    submitted[task] = self._submit(task)
                time.sleep(POLL_S)
                for task, job in list(submitted.items()):
                    if job.done():
                        del submitted[task]
                        on_end(task)
        except (KeyboardInterrupt, GanlabError):
            for job in submitted.values():
                job.cancel(check=False)
            while any(not job.done() for job in submitted.values()):
                time.sleep(POLL_S)
            for task in submitted:
                on_end(task)
            raise

    def _submit(self, task: Task) -> Any:
        from .job import run_job

        try:
            return self.executor.submit(
                run_job,
                str(self.target.recipe),
                [*self.target.overrides, *task.run.overrides],
                str(self.target.folder),
                task.run.name,
                task.resume,
            )
        except (RuntimeError, OSError) as e:
            raise GanlabError(f"--launcher submitit: run {task.run.name} could not be submitted: {e}") from None
