"""Resuming: what may change, what is refused, and how interrupted, diverged and failed runs end."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import signal
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from resume_helpers import as_written_on_a_gpu, as_written_on_a_gpu_by_ganlab_0_2_0, rewrite_checkpoints

import ganlab.rundir.checkpoints as checkpoints
from ganlab import Loss, hookimpl
from ganlab.common import tomlwrite
from ganlab.common.errors import RunError
from ganlab.contracts.engine import Evaluator
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import CheckpointRecord, load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe
from ganlab.training.resume import recipe_changes, resume_run
from ganlab.training.state import cuda_rng_state, restore_cuda_rng_state
from ganlab.training.stopping import RunDiverged, RunInterrupted


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.fixture
def finished_run(write_recipe, run_cli) -> Path:
    """A tiny run of 2 epochs (8 steps), finished."""
    recipe = write_recipe()
    result = run_cli("run", recipe, "--out", recipe.parent / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    return Path(last_line(result.output))


def steps(run: Path) -> list[int]:
    return [r["step"] for r in RunDir.open(run).read_metrics()]


def test_a_finished_run_trains_longer_when_resumed_with_more_epochs(finished_run, run_cli):
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert last_line(result.output) == str(finished_run)
    assert steps(finished_run) == list(range(1, 13))
    meta = RunDir.open(finished_run).read_meta()
    assert (meta["status"], meta["steps"], meta["epochs_completed"]) == ("finished", 12, 3)
    assert meta["resumed"][0]["checkpoint"] == "epoch_0002.pt"
    assert meta["resumed"][0]["overrides"] == ["train.epochs=3"]
    assert meta["overrides"][-1] == "train.epochs=3", "the report marks values set on resume too"
    assert "epochs = 3" in (finished_run / "recipe.toml").read_text()


def test_a_resume_that_changes_the_experiment_is_refused_and_lists_every_change(finished_run, run_cli):
    result = run_cli(
        "run",
        "--resume",
        finished_run,
        "--set",
        "train.epochs=3",
        "--set",
        "train.batch_size=8",
        "--set",
        "optimizer.generator.lr=0.001",
    )
    assert result.exit_code == 2
    assert "train.batch_size: was 16 when the checkpoint was written, now 8" in result.output
    assert "optimizer.generator.lr: was 0.0002 when the checkpoint was written, now 0.001" in result.output
    assert "train.epochs" not in result.output.split("a resume may change only")[0]
    assert steps(finished_run) == list(range(1, 9))


def test_a_recipe_edited_inside_the_run_directory_is_refused_too(finished_run, run_cli):
    recipe = finished_run / "recipe.toml"
    recipe.write_text(recipe.read_text().replace("features = 4", "features = 8", 1))
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3")
    assert result.exit_code == 2
    assert "generator.features: was 4 when the checkpoint was written, now 8" in result.output


def rewrite_recorded_recipe(run: Path, edit: Callable[[dict], None]) -> None:
    """Apply ``edit`` to the recipe as the run recorded it, in recipe.toml and in every checkpoint: what
    the run looks like to a ganlab that was upgraded (or downgraded) since it was trained."""
    recipe = tomllib.loads((run / "recipe.toml").read_text("utf-8"))
    edit(recipe)
    (run / "recipe.toml").write_text(tomlwrite.dumps(recipe), "utf-8")
    rewrite_checkpoints(run, lambda state: edit(state["recipe"]))


def test_a_setting_added_by_an_upgrade_takes_its_default_and_is_no_change(finished_run, run_cli):
    rewrite_recorded_recipe(finished_run, lambda recipe: recipe["train"].pop("channels_last"))
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert steps(finished_run) == list(range(1, 13))


def test_changing_a_setting_added_by_an_upgrade_is_refused_against_its_default(finished_run, run_cli):
    rewrite_recorded_recipe(finished_run, lambda recipe: recipe["train"].pop("channels_last"))
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3", "--set", "train.channels_last=true")
    assert result.exit_code == 2
    assert "train.channels_last: was False when the checkpoint was written, now True" in result.output
    assert steps(finished_run) == list(range(1, 9))


def test_a_recorded_setting_the_installed_code_no_longer_knows_is_refused_by_name(finished_run, run_cli):
    rewrite_recorded_recipe(finished_run, lambda recipe: recipe["train"].update(warmup_steps=100))
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3")
    assert result.exit_code == 2
    assert "recipe.toml: train.warmup_steps: unknown key" in result.output
    assert "resume it with the versions that started it (meta.json lists them)" in result.output
    assert "Traceback" not in result.output
    assert steps(finished_run) == list(range(1, 9))


def test_recipe_changes_name_nested_keys_and_evaluators():
    before = {"train": {"epochs": 2}, "evaluators": [{"name": "fid", "every": 1}]}
    after = {"train": {"epochs": 2}, "evaluators": [{"name": "fid", "every": 2}, {"name": "samples"}]}
    assert recipe_changes(before, after) == {"evaluators[0].every": (1, 2), "evaluators[1].name": (None, "samples")}


def test_an_interrupted_run_resumes_to_the_end(write_recipe, tmp_path):
    class CtrlC(Evaluator):
        """Presses Ctrl-C once, while step 5 is being logged."""

        def on_step_end(self, run, record):
            if record["step"] == 5 and not self.pressed:
                self.pressed = True
                os.kill(os.getpid(), signal.SIGINT)

        pressed = False

    @dataclasses.dataclass
    class NoConfig:
        pass

    class Plugin:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add("evaluator", "ctrl-c", lambda config, context: CtrlC(), NoConfig)

    with_ctrl_c = load_plugins([("ctrl-c", Plugin())], entry_points=False)
    recipe = load_recipe(
        write_recipe({"evaluators": [{"name": "ctrl-c"}], "train": {"log_every": 1}}), with_ctrl_c.registry
    )
    with pytest.raises(RunInterrupted):
        run_recipe(recipe, with_ctrl_c, tmp_path / "runs", progress=False)
    run = next((tmp_path / "runs").iterdir())
    assert RunDir.open(run).read_meta()["status"] == "interrupted"
    resume_run(run, with_ctrl_c, progress=False)
    assert steps(run) == list(range(1, 9))
    meta = RunDir.open(run).read_meta()
    assert meta["status"] == "finished"
    assert meta["resumed"][0]["checkpoint"] == "interrupted_step_00000005.pt"


def test_a_finished_run_cannot_be_resumed_without_more_steps(finished_run, run_cli):
    result = run_cli("run", "--resume", finished_run)
    assert result.exit_code == 5
    assert "already finished all 8 steps; nothing to resume" in result.output
    assert "--set train.epochs=N" in result.output


def test_a_run_that_another_process_is_writing_is_refused(finished_run, run_cli):
    other = RunDir.open(finished_run)
    other.lock()
    try:
        result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3")
    finally:
        other.unlock()
    assert result.exit_code == 5
    assert "is being written by another ganlab process" in result.output


def test_a_run_without_any_valid_checkpoint_starts_again_from_step_zero(finished_run, plugins, capsys):
    before = RunDir.open(finished_run).read_metrics()
    for path in (finished_run / "checkpoints").iterdir():
        path.unlink()
    resume_run(finished_run, plugins, progress=False)
    assert "no valid checkpoint; the run starts again from step 0" in capsys.readouterr().err
    after = RunDir.open(finished_run).read_metrics()
    assert [{k: v for k, v in r.items() if k != "time"} for r in after] == [
        {k: v for k, v in r.items() if k != "time"} for r in before
    ]


def test_a_run_whose_checkpoints_are_all_damaged_is_kept_not_started_again(finished_run, run_cli):
    before = {path: path.read_bytes() for path in finished_run.rglob("*") if path.is_file()}
    for path in (finished_run / "checkpoints").glob("*.pt"):
        path.write_bytes(path.read_bytes()[:1000])
    damaged = {path: path.read_bytes() for path in finished_run.rglob("*") if path.is_file()}
    result = run_cli("run", "--resume", finished_run, "--set", "train.epochs=3")
    assert result.exit_code == 6
    assert "none of its checkpoints can be resumed from (epoch_0001.pt, epoch_0002.pt)" in result.output
    assert "move the checkpoints out of" in result.output
    assert {path: path.read_bytes() for path in finished_run.rglob("*") if path.is_file()} == damaged
    assert damaged.keys() == before.keys()


@pytest.mark.parametrize("written_on_a_gpu", [as_written_on_a_gpu, as_written_on_a_gpu_by_ganlab_0_2_0])
def test_a_run_trained_on_a_gpu_continues_on_a_cpu_with_fresh_latents_and_a_warning(
    finished_run, plugins, capsys, written_on_a_gpu
):
    rewrite_checkpoints(finished_run, written_on_a_gpu)
    resume_run(finished_run, plugins, ["train.epochs=3"], progress=False)
    assert "the checkpoint was written on cuda and the run continues on cpu" in capsys.readouterr().err
    assert steps(finished_run) == list(range(1, 13))
    assert RunDir.open(finished_run).read_meta()["status"] == "finished"


def test_a_resumed_process_restores_the_saved_gpu_random_state_into_its_own_gpu(monkeypatch):
    """The main process of a run on GPUs 0-3 saves GPU 0's state; the process on GPU 3 takes it back (all
    processes keep equal states), on a machine that may have fewer GPUs than the one that wrote it."""
    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: torch.tensor([device.index], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((state.tolist(), device)))
    saved = cuda_rng_state(torch.device("cuda", 0))
    restore_cuda_rng_state(torch.device("cuda", 3), saved)
    assert restored == [([0], torch.device("cuda", 3))]


def test_a_cpu_run_saves_no_gpu_random_state_and_restores_none(monkeypatch):
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *args: pytest.fail("touched a GPU generator"))
    assert cuda_rng_state(torch.device("cpu")) == []
    restore_cuda_rng_state(torch.device("cpu"), [torch.zeros(16, dtype=torch.uint8)])


def test_logs_are_cut_back_to_a_step_and_a_torn_last_line_dropped(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.append_jsonl("metrics.jsonl", [{"step": s, "loss_d": 1.0} for s in range(1, 8)])
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 8, "loss')
    assert run_dir.truncate_jsonl("metrics.jsonl", 5) == 3
    assert [r["step"] for r in run_dir.read_metrics()] == [1, 2, 3, 4, 5]
    assert (tmp_path / "metrics.jsonl").read_text().endswith("}\n")


def test_rewinding_to_a_checkpoint_cuts_every_log_back_and_drops_the_grids_of_later_epochs(tmp_path):
    run_dir = RunDir.create(tmp_path, "rewound")
    for log in (
        "metrics.jsonl",
        "evaluators/d-distributions/scores.jsonl",
        "evaluators/a-plugin/nested/accuracy.jsonl",
    ):
        run_dir.path.joinpath(log).parent.mkdir(parents=True, exist_ok=True)
        run_dir.append_jsonl(log, [{"step": s, "value": s / 10} for s in (0, 4, 6, 8, 12)])
    for epoch in (1, 2, 3):
        run_dir.grid_path(epoch).write_bytes(b"png")
    run_dir.rewind(CheckpointRecord("step_00000006.pt", size=1, sha256="", step=6, epoch=1))
    assert run_dir.logs() == [
        "evaluators/a-plugin/nested/accuracy.jsonl",
        "evaluators/d-distributions/scores.jsonl",
        "metrics.jsonl",
    ]
    for log in run_dir.logs():
        assert [r["step"] for r in run_dir.read_jsonl(log)] == [0, 4, 6], log
    assert [epoch for epoch, _ in run_dir.sample_grids()] == [1]


def test_rewinding_keeps_a_plugin_logs_records_that_do_not_say_their_step(tmp_path):
    run_dir = RunDir.create(tmp_path, "rewound")
    run_dir.evaluator_dir("a-plugin")
    log = run_dir.path / "evaluators" / "a-plugin" / "accuracy.jsonl"
    log.write_text('{"epoch": 1, "accuracy": 0.5}\n[1, 2]\n{"step": "final"}\n{"step": 12}\n', "utf-8")
    run_dir.rewind(CheckpointRecord("step_00000006.pt", size=1, sha256="", step=6, epoch=1))
    kept = [value for _, value in run_dir.json_lines("evaluators/a-plugin/accuracy.jsonl")]
    assert kept == [{"epoch": 1, "accuracy": 0.5}, [1, 2], {"step": "final"}]


def test_rewinding_without_a_checkpoint_keeps_nothing_the_run_logged_or_drew(tmp_path):
    run_dir = RunDir.create(tmp_path, "restarted")
    run_dir.evaluator_dir("d-distributions")
    run_dir.append_jsonl("evaluators/d-distributions/scores.jsonl", [{"step": 0, "label": "before training"}])
    run_dir.append_jsonl("metrics.jsonl", [{"step": 1, "loss_d": 1.0}])
    run_dir.grid_path(1).write_bytes(b"png")
    run_dir.rewind(None)
    assert run_dir.read_jsonl("evaluators/d-distributions/scores.jsonl") == []
    assert run_dir.read_metrics() == []
    assert run_dir.sample_grids() == []


@dataclasses.dataclass
class ExplodingConfig:
    after: int = 4
    real_label: float = 1.0


class ExplodingLoss(Loss):
    """Non-saturating BCE whose generator loss becomes NaN after ``after`` steps."""

    def __init__(self, config: ExplodingConfig):
        self.after, self.real_label, self.calls = config.after, config.real_label, 0

    def discriminator_loss(self, real_logits, fake_logits):
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, self.real_label)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def generator_loss(self, fake_logits, real_logits=None):
        self.calls += 1
        loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        return loss * float("nan") if self.calls > self.after else loss


class ExplodingPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("loss", "exploding", lambda config, context: ExplodingLoss(config), ExplodingConfig)


def test_non_finite_losses_stop_the_run_as_diverged_and_keep_the_last_good_checkpoint(write_recipe, tmp_path):
    plugins = load_plugins([("exploding", ExplodingPlugin())], entry_points=False)
    recipe = load_recipe(
        write_recipe(
            {"loss": {"name": "exploding", "after": 5}, "train": {"log_every": 4}, "checkpoint": {"every_steps": 2}}
        ),
        plugins.registry,
    )
    with pytest.raises(RunDiverged, match="non-finite at step 6"):
        run_recipe(recipe, plugins, tmp_path / "runs", progress=False)
    run = RunDir.open(next((tmp_path / "runs").iterdir()))
    meta = run.read_meta()
    assert meta["status"] == "diverged" and "step 6" in meta["error"]
    newest, state = run.checkpoint_store.newest_valid(lambda message: None)
    assert newest.step == 4
    assert all(torch.isfinite(t).all() for t in state["generator"].values() if t.is_floating_point())


def test_a_full_disk_during_training_fails_the_run_cleanly(write_recipe, plugins, tmp_path, monkeypatch):
    real, calls = checkpoints.atomic_write, []

    def fills_up(path, write):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, write)

    monkeypatch.setattr(checkpoints, "atomic_write", fills_up)
    recipe = load_recipe(write_recipe({"checkpoint": {"every_steps": 3}}), plugins.registry)
    with pytest.raises(RunError, match="No space left on device; the previous checkpoint step_00000003.pt is intact"):
        run_recipe(recipe, plugins, tmp_path / "runs", progress=False)
    run = RunDir.open(next((tmp_path / "runs").iterdir()))
    assert run.read_meta()["status"] == "failed"
    assert [r.file for r in run.checkpoint_store.records()] == ["step_00000003.pt"]
    assert load_checkpoint(run.checkpoints_dir / "step_00000003.pt")["step"] == 3
    assert json.loads((run.path / "meta.json").read_text())["error"].startswith("cannot write checkpoint")
    assert math.isfinite(run.read_metrics()[-1]["loss_d"])
