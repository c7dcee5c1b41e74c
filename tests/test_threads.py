"""How many threads a run computes with: ``train.threads``, the launcher's OMP_NUM_THREADS, the count a
resumed run started with, or one per core that other processes leave free; and the warning on a busy
machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import ganlab
from ganlab.testing import SHRINK

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.toml"
CORES = sorted(os.sched_getaffinity(0))[:2]
"""The cores the busy-machine tests run on: the run and as many spinning processes as there are cores."""


def meta_of(run_dir: ganlab.RunDir) -> dict:
    return json.loads((run_dir.path / "meta.json").read_text())


@contextmanager
def busy_cores() -> Iterator[None]:
    """Every one of :data:`CORES` kept busy by a process of its own that spins."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.sched_setaffinity(0, CORES))
        for _ in CORES
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def run_on_busy_cores(tmp_path: Path, *overrides: str) -> tuple[dict, str]:
    """``ganlab run`` the shrunk quickstart on :data:`CORES` beside :func:`busy_cores`, with no
    OMP_NUM_THREADS: (its meta.json, its standard error)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(REPO)
    sets = [a for o in (*SHRINK, "evaluators=[]", *overrides) for a in ("--set", o)]
    with busy_cores():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ganlab",
                "run",
                str(QUICKSTART),
                *sets,
                "--out",
                str(tmp_path / "runs"),
                "--name",
                "busy",
                "--exact-name",
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=lambda: os.sched_setaffinity(0, CORES),
        )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "runs" / "busy" / "meta.json").read_text()), done.stderr


def test_train_threads_is_the_count_a_run_computes_with(train_recipe):
    run_dir = train_recipe(QUICKSTART, *SHRINK, "evaluators=[]", "train.threads=1")
    assert meta_of(run_dir)["threads"] == 1


def test_the_launchers_omp_num_threads_is_the_count_when_train_threads_is_0(train_recipe, monkeypatch):
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)  # as OpenMP would have read OMP_NUM_THREADS=1 when torch loaded
    try:
        run_dir = train_recipe(QUICKSTART, *SHRINK, "evaluators=[]")
    finally:
        torch.set_num_threads(threads)
    assert meta_of(run_dir)["threads"] == 1


def test_a_run_leaves_the_callers_thread_count_as_it_was(tmp_path):
    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    ganlab.run(
        QUICKSTART,
        {
            "data.image_size": 16,
            "data.num_images": 32,
            "generator.features": 4,
            "discriminator.features": 4,
            "train.epochs": 1,
            "train.batch_size": 16,
            "train.num_workers": 0,
            "evaluators": [],
            "train.threads": threads,
        },
        out=tmp_path,
        progress=False,
    )
    assert torch.get_num_threads() == before


def test_a_resumed_run_keeps_the_count_it_started_with(train_recipe, run_cli, monkeypatch):
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    try:
        run_dir = train_recipe(QUICKSTART, *SHRINK, "evaluators=[]", "train.max_steps=4")
    finally:
        torch.set_num_threads(threads)
    monkeypatch.delenv("OMP_NUM_THREADS")
    result = run_cli("run", "--resume", run_dir.path, "--set", "train.max_steps=8", "--no-progress")
    assert result.exit_code == 0, result.output
    meta = meta_of(run_dir)
    assert (meta["steps"], meta["threads"]) == (8, 1)


def test_a_negative_thread_count_is_a_recipe_error(run_cli):
    result = run_cli("validate", QUICKSTART, "--set", "train.threads=-1")
    assert result.exit_code == 2
    assert "train.threads" in result.output


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's CPU affinity")
def test_on_cores_other_processes_keep_busy_a_run_computes_with_one_thread_and_says_why(tmp_path):
    meta, stderr = run_on_busy_cores(tmp_path)
    assert meta["threads"] == 1
    assert "other processes keep" in stderr and f"of this machine's {len(CORES)} cores busy" in stderr
    assert "training computes with 1 thread (train.threads = 0 chose it)" in stderr


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's CPU affinity")
def test_a_run_whose_threads_the_machine_cannot_hold_is_warned_about_after_an_epoch(tmp_path):
    meta, stderr = run_on_busy_cores(tmp_path, f"train.threads={len(CORES)}")
    assert meta["threads"] == len(CORES)
    assert "during epoch 1" in stderr
    assert "each step waits for a core" in stderr
