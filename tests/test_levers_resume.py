"""A run with every kind of lever (an augmentation drawing random numbers and steering by its own state, a
lazy gradient penalty, two non-constant schedules, loggers), killed and resumed, ends bit for bit where the
same run left alone ends, and its csv logger's files equal the uninterrupted run's."""

from __future__ import annotations

import csv
import multiprocessing
import signal
from pathlib import Path

import pytest
from lever_plugins import LeverPlugin
from resume_helpers import RunningMeanPlugin, die_on_checkpoint_write
from test_resume_exact import assert_identical, without_time

from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.lifecycle import run_recipe
from ganlab.training.resume import resume_run

ALL_LEVERS = {
    "train": {"epochs": 3, "log_every": 1},
    "checkpoint": {"every_steps": 3},
    "augment": {"name": "noise", "std": 0.1},
    "regularizers": [{"name": "grad-real", "gamma": 5.0, "interval": 2}],
    "schedule": {
        "generator": {"name": "linear-decay", "end_factor": 0.1},
        "discriminator": {"name": "cosine", "warmup_steps": 2},
    },
    "loggers": [{"name": "csv"}],
    "evaluators": [{"name": "running-mean"}],
}
"""12 steps, a checkpoint every 3 and at each epoch's end (every 4), an evaluator that logs an evaluation at
each epoch's end."""


pytestmark = pytest.mark.usefixtures("one_thread")


def plugins():
    return load_plugins([("levers", LeverPlugin()), ("running-mean", RunningMeanPlugin())], entry_points=False)


def train_and_die(recipe: Path, out: Path) -> None:
    """In a forked child: train, and die by SIGKILL at the 4th checkpoint, before the manifest lists it."""
    die_on_checkpoint_write(4, half_written=False)
    loaded = plugins()
    run_recipe(load_recipe(recipe, loaded.registry), loaded, out, progress=False)


def csv_rows(run: Path, name: str) -> list[dict[str, str]]:
    with (run / "csv" / name).open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def test_a_run_with_every_lever_resumes_bit_for_bit(tmp_path):
    recipe = tmp_path / "levers.toml"
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, ALL_LEVERS)), "utf-8")
    loaded = plugins()
    reference = run_recipe(load_recipe(recipe, loaded.registry), loaded, tmp_path / "reference", progress=False)

    child = multiprocessing.get_context("fork").Process(target=train_and_die, args=(recipe, tmp_path / "killed"))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == -signal.SIGKILL
    (killed,) = (tmp_path / "killed").iterdir()
    assert 6 <= len(RunDir.open(killed).read_metrics()) < 12
    resume_run(killed, plugins(), progress=False, warn=lambda message: None)

    resumed = RunDir.open(killed)
    assert resumed.read_meta()["status"] == "finished"
    assert without_time(resumed.read_metrics()) == without_time(reference.read_metrics())
    final = reference.checkpoint_store.records()[-1].file
    ours = load_checkpoint(killed / "checkpoints" / final)
    theirs = load_checkpoint(reference.path / "checkpoints" / final)
    for key in ("generator", "discriminator", "optimizer_g", "optimizer_d", "rng", "levers"):
        assert_identical(ours[key], theirs[key], key)
    for name in ("steps.csv", "evaluations.csv"):
        assert csv_rows(killed, name) == csv_rows(reference.path, name)
    assert len(csv_rows(killed, "steps.csv")) == 12 and len(csv_rows(killed, "evaluations.csv")) == 3
