"""Stopping ganlab with a signal, as a terminal (Ctrl-C: SIGINT) or a job system (Docker, systemd,
Kubernetes, Slurm: SIGTERM) does: real signals to a real ``python -m ganlab`` process. Whatever phase the
command is in, it cleans up and exits with 130 (SIGINT) or 143 (SIGTERM), never with a traceback or
click's ``Aborted!``; a run stops at a step boundary, checkpointed, marked interrupted, with its report."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from ganlab import Evaluator, hookimpl
from ganlab.common import tomlwrite
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training import lifecycle
from ganlab.training.stopping import FORWARDED_WITHIN_S, StopRequest, graceful_interrupt

REPO = Path(__file__).resolve().parent.parent

SLOW_DECODE = (
    "import sys, time; from ganlab.data.transform import CropResize; decode = CropResize.__call__; "
    "CropResize.__call__ = lambda self, image: (time.sleep(0.02), decode(self, image))[1]; "
    "from ganlab.cli.main import main; main(sys.argv[1:])"
)
"""``ganlab`` with every image decode of a cache build slowed to 20 ms, so that the build lasts long enough
to be interrupted half way whatever the machine's speed."""


def start_ganlab(tmp_path: Path, *args: object, script: str | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "GANLAB_CACHE_DIR": str(tmp_path / "cache"),
    }
    command = ["-c", script] if script else ["-m", "ganlab"]
    return subprocess.Popen(
        [sys.executable, *command, *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=REPO,
    )


def signal_when(process: subprocess.Popen, ready: Callable[[], bool], signum: int) -> tuple[str, str]:
    """Send ``signum`` to ``process`` and its helpers as soon as ``ready()``, as a terminal's Ctrl-C or a
    ``kill`` of the process group does; its standard output and error once it ends."""
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"ganlab ended before it could be stopped:\n{process.communicate()[1]}"
    os.killpg(process.pid, signum)
    return process.communicate(timeout=120)


SAID = {signal.SIGINT: "interrupted by Ctrl-C (SIGINT)", signal.SIGTERM: "interrupted by SIGTERM"}


def assert_stopped_cleanly(process: subprocess.Popen, stderr: str, signum: int) -> None:
    """Exit code 128 + the signal's number, one message saying which signal, no traceback, no ``Aborted!``."""
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr, stderr
    assert SAID[signum] in stderr


def long_recipe(tmp_path: Path) -> Path:
    """The tiny recipe with far more steps than a test waits for, logging every step."""
    path = tmp_path / "recipe.toml"
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"train": {"epochs": 500, "log_every": 1}})), "utf-8")
    return path


def test_sigterm_during_training_checkpoints_marks_the_run_interrupted_and_resumes(tmp_path, run_cli):
    process = start_ganlab(tmp_path, "run", long_recipe(tmp_path), "--out", tmp_path / "runs", "--no-progress")
    metrics = lambda: [p for p in (tmp_path / "runs").glob("*/metrics.jsonl") if p.read_text()]  # noqa: E731
    _, stderr = signal_when(process, lambda: bool(metrics()), signal.SIGTERM)

    assert_stopped_cleanly(process, stderr, signal.SIGTERM)
    run = metrics()[0].parent
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "interrupted" and "SIGTERM" in meta["error"]
    [checkpoint] = (run / "checkpoints").glob("interrupted_step_*.pt")
    assert checkpoint.name == f"interrupted_step_{meta['steps']:08d}.pt"
    assert (run / "report.html").is_file()
    assert f"ganlab run --resume {run}" in stderr

    resumed = run_cli("run", "--resume", run, "--set", f"train.max_steps={meta['steps'] + 2}", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["resumed"][0]["checkpoint"] == checkpoint.name


def images_folder(folder: Path, count: int) -> Path:
    """``count`` small PNG photos-to-be of distinct colours."""
    folder.mkdir()
    for i in range(count):
        Image.new("RGB", (24, 24), (i % 256, (7 * i) % 256, 90)).save(folder / f"{i:04d}.png")
    return folder


@pytest.mark.parametrize("command, signum", [("run", signal.SIGINT), ("prepare", signal.SIGTERM)])
def test_a_signal_during_the_data_cache_build_leaves_no_partial_cache(tmp_path, command, signum):
    recipe = tmp_path / "recipe.toml"
    data = {
        "name": "image-folder",
        "image_size": 16,
        "root": str(images_folder(tmp_path / "photos", 200)),
        "workers": 2,
    }
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"data": data})), "utf-8")
    args = (
        ["run", recipe, "--out", tmp_path / "runs", "--no-progress"]
        if command == "run"
        else ["data", "prepare", recipe]
    )
    process = start_ganlab(tmp_path, *args, script=SLOW_DECODE)
    cache = tmp_path / "cache"
    building = lambda: any(cache.glob(".*.partial/images.u8"))  # noqa: E731
    _, stderr = signal_when(process, building, signum)

    assert_stopped_cleanly(process, stderr, signum)
    assert list(cache.iterdir()) == [], "a partial or unfinished cache was left behind"
    assert not list(tmp_path.glob("runs/*")), "no run directory is made before the data is ready"


class CtrlCDuringTheFinalEvaluation(Evaluator):
    """An end-of-run evaluation that the user interrupts with Ctrl-C."""

    def on_run_end(self, run, status):
        raise KeyboardInterrupt


class FinalEvaluationPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        @dataclasses.dataclass
        class Config:
            pass

        registry.add("evaluator", "final-evaluation", lambda config, context: CtrlCDuringTheFinalEvaluation(), Config)


def test_ctrl_c_during_the_end_of_run_evaluators_still_records_the_run_and_writes_its_report(
    run_cli, write_recipe, register_plugin, tmp_path
):
    register_plugin(FinalEvaluationPlugin(), "final-evaluation")
    recipe = write_recipe({"evaluators": [{"name": "final-evaluation"}], "train": {"max_steps": 2}})
    result = run_cli("run", recipe, "--out", tmp_path / "runs", "--no-progress")

    assert result.exit_code == 130 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and "interrupted by Ctrl-C (SIGINT)" in result.output
    [run] = (tmp_path / "runs").iterdir()
    meta = RunDir(run).read_meta()
    assert meta["status"] == "interrupted" and meta["steps"] == 2
    assert meta["error"] == "interrupted by Ctrl-C (SIGINT) while the end-of-run evaluators ran"
    assert (run / "report.html").is_file()


def test_ctrl_c_while_a_new_run_is_set_up_stops_it_at_its_first_step(run_cli, write_recipe, tmp_path, monkeypatch):
    """Between creating the run directory and writing its meta.json (a GPU run copies its data to the
    device then), a signal is held, so no run directory is ever left without its meta.json."""
    record_start = lifecycle.start_meta

    def pressing_ctrl_c(run, plugins):
        os.kill(os.getpid(), signal.SIGINT)
        return record_start(run, plugins)

    monkeypatch.setattr(lifecycle, "start_meta", pressing_ctrl_c)
    result = run_cli("run", write_recipe(), "--out", tmp_path / "runs", "--no-progress")

    assert result.exit_code == 130 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    [run] = (tmp_path / "runs").iterdir()
    assert RunDir(run).read_meta()["status"] == "interrupted"
    assert [p.name for p in (run / "checkpoints").glob("*.pt")] == ["interrupted_step_00000001.pt"]


def test_a_copy_of_the_signal_forwarded_by_torchrun_is_not_a_second_request():
    """Under torchrun a process gets a signal sent to the whole group twice: directly, then forwarded."""
    stop = StopRequest()
    with graceful_interrupt(stop, forwarded_within=FORWARDED_WITHIN_S):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.signum == signal.SIGTERM


def test_a_second_signal_to_a_single_process_stops_it_at_once():
    stop = StopRequest()
    with pytest.raises(KeyboardInterrupt), graceful_interrupt(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert stop.signum == signal.SIGTERM
