"""Helpers shared by the resume tests and the child processes they kill: an evaluator with accumulated state,
ways to make a training process die by SIGKILL at an exact point of a checkpoint write, and checkpoints
rewritten to look as if another ganlab or another device had written them."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

import torch

from ganlab import hookimpl
from ganlab.contracts.engine import Evaluator
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir


@dataclasses.dataclass
class RunningMeanConfig:
    pass


class RunningMeanEvaluator(Evaluator):
    """Logs the mean generator loss of the whole run so far at every epoch end; that mean depends on
    state held in memory, so a resume that does not restore the evaluator's state logs a different value."""

    name = "running-mean"

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def on_step_end(self, run, record) -> None:
        self.total += record["loss_g"]
        self.count += 1

    def on_epoch_end(self, run, epoch) -> None:
        run.log_evaluation("mean_loss_g", self.total / self.count, steps_seen=self.count)

    def state_dict(self) -> dict:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.count = state["total"], state["count"]


class RunningMeanPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "running-mean", lambda config, context: RunningMeanEvaluator(), RunningMeanConfig)


def die_on_checkpoint_write(number: int, half_written: bool) -> None:
    """SIGKILL this process at its ``number``-th checkpoint: half way through writing the temporary file
    (``half_written``), or after the file is in place but before the manifest lists it."""
    import ganlab.rundir.checkpoints as checkpoints

    real_write, real_manifest = checkpoints.atomic_write, checkpoints.CheckpointStore._write_manifest
    seen = {"writes": 0, "manifests": 0}

    def write(path, writer):
        seen["writes"] += 1
        if half_written and seen["writes"] == number:
            buffer = io.BytesIO()
            writer(buffer)

            def half(f):
                f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)

            return real_write(path, half)
        return real_write(path, writer)

    def manifest(self, records):
        seen["manifests"] += 1
        if not half_written and seen["manifests"] == number:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_manifest(self, records)

    checkpoints.atomic_write = write
    checkpoints.CheckpointStore._write_manifest = manifest


def train_and_die(recipe: Path, out: Path, mode: str, number: int) -> None:
    """Train ``recipe`` into ``out``, dying at checkpoint ``number`` as ``mode`` ("mid-write" or
    "before-manifest") says; run in a forked child process."""
    from ganlab.loading.manager import load_plugins
    from ganlab.recipes.recipe import load_recipe
    from ganlab.training.lifecycle import run_recipe

    die_on_checkpoint_write(number, half_written=mode == "mid-write")
    plugins = load_plugins([("running-mean", RunningMeanPlugin())], entry_points=False)
    run_recipe(load_recipe(recipe, plugins.registry), plugins, out, progress=False)


def rewrite_checkpoints(run: Path, edit: Callable[[dict], None]) -> None:
    """Apply ``edit`` to every checkpoint's state, keeping the manifest true to the files."""
    store = RunDir.open(run).checkpoint_store
    for record in store.records():
        state = load_checkpoint(store.directory / record.file)
        edit(state)
        store.save(record.file, state, record.metric)


def as_written_on_a_gpu(state: dict) -> None:
    """What a CUDA run's checkpoint holds: its latent generator and the GPU's are CUDA (Philox) generators,
    with 16 bytes of state that a CPU generator cannot take."""
    state["device"] = "cuda"
    state["rng"]["noise"] = torch.zeros(16, dtype=torch.uint8)
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)]


def as_written_on_a_gpu_by_ganlab_0_2_0(state: dict) -> None:
    """A CUDA run's checkpoint from before checkpoints recorded their device: only its GPU random state,
    present for GPU runs alone, tells."""
    as_written_on_a_gpu(state)
    del state["device"]
