"""The two ways a sweep's runs are launched, each an existing tool rather than a scheduler of our own:
``ganlab run`` processes on this machine, a few at a time, or submitit jobs (Slurm, or submitit's local
executor where there is no Slurm).

Both call ``on_end`` with each task as its run ends, in the order they end, and both answer a stop
signal the way ``ganlab run`` does: each live run gets the signal once (checkpoint, status
``interrupted``), the launcher waits for it to end, then the stop goes on up as a KeyboardInterrupt. A
second signal is passed on too, which stops the runs at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import GanlabError
from ..machine import signals
from ..machine.threads import usable_cores
from ..rundir.rundir import now_iso
from .plan import PlannedRun

POLL_S = 0.2
"""How often the launchers look whether a run has ended."""
LOGS = "logs"
"""The sweep's folder of what each run printed (local launcher): ``logs/<run>.log``."""


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
        wanted = {"slurm_partition": self.partition, "timeout_min": self.time_min, "gpus_per_node": self.gpus,
                  "cpus_per_task": self.cpus, "mem_gb": self.mem_gb}
        return {key: value for key, value in wanted.items() if value is not None}


def run_command(task: Task, target: SweepTarget) -> list[str]:
    """The ``ganlab run`` command line of a task, as ``ganlab run`` is run by hand."""
    command = [sys.executable, "-m", "ganlab", "run", "--no-progress"]
    if task.resume:
        return command + ["--resume", str(target.folder / task.run.name)]
    sets = [a for o in [*target.overrides, *task.run.overrides] for a in ("--set", o)]
    return command + [str(target.recipe), *sets, "--out", str(target.folder), "--name", task.run.name,
                      "--exact-name"]


def run_locally(tasks: list[Task], target: SweepTarget, jobs: int, on_end: Callable[[Task], None],
                threads: int | None = None) -> None:
    """Run the tasks as ``ganlab run`` processes, ``jobs`` at a time, each with ``threads`` torch threads
    (OMP_NUM_THREADS, MKL_NUM_THREADS; by default the usable cores shared out between the processes, so
    that they do not fight over them); each process's output goes to ``logs/<run>.log`` in the sweep's
    folder. The number of threads changes the order torch sums in, so the last bits of a run's numbers:
    the same ``threads`` gives the same numbers bit for bit, whatever ``jobs``."""
    per_run = str(threads or max(1, usable_cores() // jobs))
    environment = {**os.environ, "OMP_NUM_THREADS": per_run, "MKL_NUM_THREADS": per_run}
    (target.folder / LOGS).mkdir(exist_ok=True)
    waiting, running = list(tasks), {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                task = waiting.pop(0)
                running[task] = _start(task, target, environment)
            time.sleep(POLL_S)
            for task, process in list(running.items()):
                if process.poll() is not None:
                    del running[task]
                    on_end(task)
    except KeyboardInterrupt as stop:
        _stop_all(list(running.values()), signals.signal_of(stop))
        for task in running:
            on_end(task)
        raise


def _start(task: Task, target: SweepTarget, environment: dict[str, str]) -> subprocess.Popen:
    """Start a task's process in a session of its own: the terminal's Ctrl-C reaches only the sweep,
    which passes it on once (two would stop the run at once, without its checkpoint)."""
    log_path = target.folder / LOGS / f"{task.run.name}.log"
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"== {now_iso()} ganlab sweep: {'resume' if task.resume else 'start'} {task.run.name}\n")
        log.flush()
        return subprocess.Popen(run_command(task, target), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=environment, start_new_session=True)


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


def run_with_submitit(tasks: list[Task], target: SweepTarget, slurm: SlurmOptions,
                      on_end: Callable[[Task], None]) -> None:
    """Submit every task as a submitit job running :func:`ganlab.sweeps.job.run_job`, then wait for them;
    a stop signal cancels the jobs still running (submitit sends them SIGINT locally, scancel SIGTERM on
    Slurm: both checkpoint the run and mark it ``interrupted``). Submitit's files are in ``submitit/``."""
    try:
        import submitit
    except ImportError:
        raise GanlabError("--launcher submitit needs submitit, which is not installed: pip install submitit") from None
    from .job import run_job

    try:
        executor = submitit.AutoExecutor(folder=target.folder / "submitit",
                                         cluster=None if slurm.cluster == "auto" else slurm.cluster)
    except (RuntimeError, ValueError) as e:
        raise GanlabError(f"--launcher submitit: submitit cannot run jobs here ({e})") from None
    executor.update_parameters(name=f"ganlab-{target.folder.name}", **slurm.parameters())
    submitted = {}
    try:
        for task in tasks:
            submitted[task] = executor.submit(run_job, str(target.recipe),
                                              [*target.overrides, *task.run.overrides], str(target.folder),
                                              task.run.name, task.resume)
        while submitted:
            time.sleep(POLL_S)
            for task, job in list(submitted.items()):
                if job.done():
                    del submitted[task]
                    on_end(task)
    except KeyboardInterrupt:
        for job in submitted.values():
            job.cancel(check=False)
        while any(not job.done() for job in submitted.values()):
            time.sleep(POLL_S)
        for task in submitted:
            on_end(task)
        raise
