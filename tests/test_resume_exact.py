"""A run killed with SIGKILL at any point and resumed ends bit for bit where the same run left alone ends.

Each scenario kills a real training process (the CLI itself, or a forked child that dies at an exact
point of a checkpoint write), resumes the run in this process, and compares the final weights, optimizer
states, RNG states, per-step losses, the evaluators' results and every file the evaluators and the
progress grids left, byte for byte, with an uninterrupted run.
All processes train with one thread, so their floating-point arithmetic is the same.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from resume_helpers import RunningMeanPlugin, train_and_die

from conftest import TINY_RECIPE, merge
from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe
from ganlab.training.resume import resume_run

REPO = Path(__file__).resolve().parent.parent
STEPS = 40
KILLABLE = {
    "data": {"num_images": 32},
    "train": {"epochs": 10, "batch_size": 8, "log_every": 1},
    "checkpoint": {"every_steps": 3},
    "evaluators": [
        {"name": "running-mean"},
        {"name": "d-distributions", "num_images": 8},
        {"name": "training-health", "num_images": 8},
        {"name": "samples"},
    ],
}
"""40 steps, 4 per epoch, a checkpoint every 3 steps and at every epoch end; an evaluator with memory and the
built-in evaluators that write files of their own."""
STATE_KEYS = (
    "generator",
    "discriminator",
    "optimizer_g",
    "optimizer_d",
    "step",
    "epoch",
    "batch_in_epoch",
    "rng",
    "evaluators",
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def with_evaluator():
    return load_plugins([("running-mean", RunningMeanPlugin())], entry_points=False)


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "killable.toml"
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, KILLABLE)), "utf-8")
    return path


def train_uninterrupted(recipe_path: Path, out: Path, overrides: list[str] = ()) -> RunDir:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    plugins = load_plugins([("running-mean", RunningMeanPlugin())], entry_points=False)
    try:
        return run_recipe(load_recipe(recipe_path, plugins.registry, overrides), plugins, out, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(recipe_path, tmp_path_factory) -> RunDir:
    """The same run, never interrupted (trained once for the whole module)."""
    return train_uninterrupted(recipe_path, tmp_path_factory.mktemp("reference"))


def only_run_in(out: Path) -> Path:
    (run,) = out.iterdir()
    return run


def without_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def assert_same_run(resumed: Path, reference: RunDir, steps: int = STEPS) -> None:
    resumed_dir = RunDir.open(resumed)
    assert resumed_dir.read_meta()["status"] == "finished"
    assert without_time(resumed_dir.read_metrics()) == without_time(reference.read_metrics())
    assert [r["step"] for r in resumed_dir.read_metrics()] == list(range(1, steps + 1))
    assert without_time(resumed_dir.read_evaluations()) == without_time(reference.read_evaluations())
    assert_same_files(resumed, reference.path, "evaluators")
    assert_same_files(resumed, reference.path, "samples")
    final = reference.checkpoint_store.records()[-1].file
    ours, theirs = (
        load_checkpoint(resumed / "checkpoints" / final),
        load_checkpoint(reference.path / "checkpoints" / final),
    )
    for key in STATE_KEYS:
        assert_identical(ours[key], theirs[key], key)


def assert_same_files(resumed: Path, reference: Path, folder: str) -> None:
    """The same files under ``folder`` of both runs, with the same bytes (none of them records a time)."""

    def files(run: Path) -> dict[str, bytes]:
        return {str(p.relative_to(run)): p.read_bytes() for p in sorted((run / folder).rglob("*")) if p.is_file()}

    ours, theirs = files(resumed), files(reference)
    assert ours.keys() == theirs.keys()
    assert theirs, f"the reference run wrote nothing under {folder}/"
    for name in theirs:
        assert ours[name] == theirs[name], name


def assert_identical(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def kill_in_child(recipe_path: Path, out: Path, mode: str, checkpoint_number: int) -> Path:
    child = multiprocessing.get_context("fork").Process(
        target=train_and_die, args=(recipe_path, out, mode, checkpoint_number)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    return only_run_in(out)


def test_killed_by_sigkill_from_outside_after_some_steps(recipe_path, reference, with_evaluator, tmp_path):
    out = tmp_path / "killed"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    script = (
        "import sys; from ganlab.cli.main import main; from ganlab.loading import manager as plugins; "
        "from resume_helpers import RunningMeanPlugin; "
        "real = plugins.load_plugins; "
        "plugins.load_plugins = lambda **options: real([('running-mean', RunningMeanPlugin())], "
        "entry_points=False, **options); "
        "main(sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "run", str(recipe_path), "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            logs = list(out.glob("*/metrics.jsonl"))
            if logs and len(logs[0].read_text().splitlines()) >= 11:
                break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    run = only_run_in(out)
    steps_logged = len(RunDir.open(run).read_metrics())
    assert 11 <= steps_logged < STEPS
    resume_run(run, with_evaluator, progress=False, warn=lambda message: None)
    assert_same_run(run, reference)


@pytest.mark.parametrize(
    "mode, checkpoint_number", [("mid-write", 5), ("before-manifest", 8), ("mid-write", 1), ("before-manifest", 1)]
)
def test_killed_during_a_checkpoint_write(recipe_path, reference, with_evaluator, tmp_path, mode, checkpoint_number):
    run = kill_in_child(recipe_path, tmp_path / "killed", mode, checkpoint_number)
    written = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
    warnings: list[str] = []
    resume_run(run, with_evaluator, progress=False, warn=warnings.append)
    assert_same_run(run, reference)
    if mode == "before-manifest":  # the file was in place but never listed: not trusted
        assert any("not in the manifest" in w for w in warnings)
    assert len(written) == checkpoint_number - (mode == "mid-write")


def test_a_truncated_newest_checkpoint_is_skipped_with_a_warning(recipe_path, reference, with_evaluator, tmp_path):
    run = kill_in_child(recipe_path, tmp_path / "killed", "before-manifest", 9)
    store = RunDir.open(run).checkpoint_store
    newest = store.records()[-1]
    path = store.directory / newest.file
    path.write_bytes(path.read_bytes()[:1000])
    warnings: list[str] = []
    resume_run(run, with_evaluator, progress=False, warn=warnings.append)
    assert any(newest.file in w and "truncated" in w for w in warnings)
    assert RunDir.open(run).read_meta()["resumed"][0]["checkpoint"] != newest.file
    assert_same_run(run, reference)


def test_a_resume_that_stops_sooner_leaves_the_files_of_a_run_that_stopped_there(recipe_path, with_evaluator, tmp_path):
    """Killed at step 21 with the epoch-5 checkpoint (step 20) damaged: the run resumes from step 18 and
    stops at 19, so the measurements and the grid the first process made at step 20 must not survive."""
    run = kill_in_child(recipe_path, tmp_path / "killed", "before-manifest", 11)
    store = RunDir.open(run).checkpoint_store
    damaged = store.directory / "epoch_0005.pt"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    resume_run(run, with_evaluator, ["train.max_steps=19"], progress=False, warn=lambda message: None)
    assert RunDir.open(run).read_meta()["resumed"][0]["checkpoint"] == "step_00000018.pt"
    assert_same_run(run, train_uninterrupted(recipe_path, tmp_path / "reference", ["train.max_steps=19"]), steps=19)
