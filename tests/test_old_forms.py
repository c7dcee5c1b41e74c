"""The names ganlab 0.4 used for evaluators ("evaluation hooks") still work until 0.6: a plugin written
against them registers and runs, a recipe that says [[hooks]] is read as [[evaluators]], and a run
directory written by 0.4 (``hooks/<name>/``, its checkpoints' "hooks" states, recipe.toml's [[hooks]],
meta.json's hook_errors, a sweep.json whose grid says ``hooks[...]``) is reported, resumed, evaluated,
compared and swept again as a new one is. The old forms are written here on purpose (the renaming script,
/work/plan/rename_words.py, leaves this file alone)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib
import types
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from resume_helpers import RunningMeanPlugin, rewrite_checkpoints

import ganlab
from ganlab.cli.main import main
from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.lifecycle import run_recipe

EVALUATORS = [{"name": "loss-curves"}, {"name": "d-distributions", "num_images": 16}, {"name": "running-mean"}]


def as_written_by_ganlab_0_4(run: Path) -> Path:
    """Turn a run directory into what ganlab 0.4 wrote: its evaluators' folder, recipe and checkpoint states
    under the old name, the checkpoint states keyed by the old sections."""
    (run / "evaluators").rename(run / "hooks")
    recipe = tomllib.loads((run / "recipe.toml").read_text("utf-8"))
    recipe["hooks"] = recipe.pop("evaluators")
    (run / "recipe.toml").write_text(tomlwrite.dumps(recipe), "utf-8")

    def old_state(state: dict) -> None:
        state["recipe"]["hooks"] = state["recipe"].pop("evaluators")
        state["hooks"] = {
            "hooks" + section.removeprefix("evaluators"): value for section, value in state.pop("evaluators").items()
        }

    rewrite_checkpoints(run, old_state)
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-epoch run with a stateful evaluator and one that keeps a log of its own."""
    root = tmp_path_factory.mktemp("old-forms")
    (root / "recipe.toml").write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": EVALUATORS})), "utf-8")
    plugins = load_plugins([("running-mean", RunningMeanPlugin())], entry_points=False)
    return run_recipe(load_recipe(root / "recipe.toml", plugins.registry), plugins, root / "runs", progress=False).path


@pytest.fixture
def old_run(trained, tmp_path) -> Path:
    return as_written_by_ganlab_0_4(shutil.copytree(trained, tmp_path / "old"))


def test_the_old_run_directory_is_what_ganlab_0_4_wrote(old_run):
    assert (old_run / "hooks" / "d-distributions" / "scores.jsonl").is_file()
    assert not (old_run / "evaluators").exists()
    assert "[[hooks]]" in (old_run / "recipe.toml").read_text("utf-8")
    state = load_checkpoint(old_run / "checkpoints" / "epoch_0002.pt")
    assert "evaluators" not in state and state["hooks"]["hooks[2]"]["count"] == 8


# -- the Python names ---------------------------------------------------------------------------------------


def test_ganlab_evaluation_hook_is_the_evaluator_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="ganlab.EvaluationHook is deprecated: use ganlab.Evaluator"):
        assert ganlab.EvaluationHook is ganlab.Evaluator
    with pytest.raises(AttributeError):
        ganlab.NoSuchName  # noqa: B018


def test_a_plugin_written_for_0_4_registers_runs_and_reads_its_log_back(register_plugin, write_recipe, run_cli):
    plugin = types.ModuleType("old_plugin")
    with pytest.warns(DeprecationWarning) as declared:

        @dataclasses.dataclass
        class Config:
            pass

        @ganlab.component("hook", "old-style", config=Config)
        class OldStyle(ganlab.EvaluationHook):
            def __init__(self, config, context):
                self.name = "old-style"

            def on_epoch_end(self, run, epoch):
                (run.run_dir.hook_dir(self.name) / "last.txt").write_text(str(epoch))
                run.run_dir.append_jsonl("hooks/old-style/epochs.jsonl", [{"step": run.step, "epoch": epoch}])

    assert {str(w.message).split(":")[0] for w in declared} == {
        "ganlab.EvaluationHook is deprecated",
        "component kind 'hook' is deprecated",
    }
    plugin.OldStyle = OldStyle
    OldStyle.__module__ = "old_plugin"
    register_plugin(plugin, name="old-plugin")
    recipe = write_recipe({"hooks": [{"name": "old-style"}]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = run_cli("run", recipe, "--out", recipe.parent / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    [run] = (recipe.parent / "runs").iterdir()
    assert (run / "evaluators" / "old-style" / "last.txt").read_text() == "2"
    with pytest.warns(DeprecationWarning, match="the evaluators' folder is evaluators/ now"):
        assert RunDir(run).read_jsonl("hooks/old-style/epochs.jsonl") == [
            {"step": 4, "epoch": 1},
            {"step": 8, "epoch": 2},
        ]


def test_a_plugin_that_adds_a_hook_kind_in_its_register_hook_gets_an_evaluator(register_plugin):
    class Adds:
        @ganlab.hookimpl
        def ganlab_register(self, registry):
            registry.add("hook", "added-old-style", lambda config, context: ganlab.Evaluator(), RunningMeanConfig)

    @dataclasses.dataclass
    class RunningMeanConfig:
        pass

    with pytest.warns(DeprecationWarning, match="component kind 'hook' is deprecated: use 'evaluator'"):
        plugins = register_plugin(Adds(), name="adds")
    assert plugins.registry.get("evaluator", "added-old-style") is not None


# -- recipes -----------------------------------------------------------------------------------------------


def test_a_recipe_with_hooks_is_read_as_evaluators_and_the_run_records_evaluators(write_recipe, run_cli):
    recipe = write_recipe({"hooks": [{"name": "loss-curves", "smoothing": 3}]}, name="old.toml")
    validated = run_cli("validate", recipe)
    assert validated.exit_code == 0, validated.output
    assert (
        f"ganlab: warning: {recipe}: [[hooks]] is read as [[evaluators]], its name since ganlab 0.5" in validated.stderr
    )
    result = run_cli("run", recipe, "--out", recipe.parent / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    [run] = (recipe.parent / "runs").iterdir()
    written = tomllib.loads((run / "recipe.toml").read_text("utf-8"))
    assert "hooks" not in written and written["evaluators"] == [{"name": "loss-curves", "smoothing": 3}]


def test_set_hooks_index_is_read_as_evaluators_index_with_a_warning(write_recipe, run_cli):
    recipe = write_recipe({"evaluators": [{"name": "loss-curves"}]})
    result = run_cli("run", recipe, "--set", "hooks[0].smoothing=7", "--out", recipe.parent / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "--set hooks[0].smoothing=7: hooks is read as evaluators" in result.stderr
    [run] = (recipe.parent / "runs").iterdir()
    assert tomllib.loads((run / "recipe.toml").read_text("utf-8"))["evaluators"][0]["smoothing"] == 7


def test_a_recipe_with_both_hooks_and_evaluators_is_a_recipe_error(write_recipe, run_cli):
    recipe = write_recipe({"evaluators": [{"name": "loss-curves"}], "hooks": [{"name": "samples"}]})
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert "hooks: the old name of [[evaluators]], given beside it; keep one ([[evaluators]])" in result.stderr


# -- run directories of ganlab 0.4 ---------------------------------------------------------------------------


def test_an_old_run_is_reported_with_its_evaluators_logs_and_errors(old_run, run_cli, register_plugin):
    register_plugin(RunningMeanPlugin(), name="running-mean")
    meta = json.loads((old_run / "meta.json").read_text("utf-8"))
    meta["hook_errors"] = ["hooks[1] (samples): RuntimeError: boom"]
    (old_run / "meta.json").write_text(json.dumps(meta), "utf-8")
    (old_run / "report.html").unlink()
    result = run_cli("report", old_run)
    assert result.exit_code == 0, result.output
    page = (old_run / "report.html").read_text("utf-8")
    assert "D(x) and D(G(z))" in page and "No measurement was taken" not in page
    assert "missing sections" not in page
    assert "Evaluators that failed at the end of the run" in page and "RuntimeError: boom" in page


def test_an_old_run_resumes_with_its_evaluators_state_and_keeps_its_layout(old_run, run_cli, register_plugin):
    register_plugin(RunningMeanPlugin(), name="running-mean")
    result = run_cli("run", "--resume", old_run, "--set", "train.epochs=3", "--no-progress")
    assert result.exit_code == 0, result.output
    means = [e for e in RunDir(old_run).read_evaluations() if e["metric"] == "mean_loss_g"]
    assert [e["steps_seen"] for e in means] == [4, 8, 12], "the running mean's state came back from 'hooks'"
    assert [r["epoch"] for r in RunDir(old_run).read_jsonl("evaluators/d-distributions/scores.jsonl")] == [0, 1, 2, 3]
    assert not (old_run / "evaluators").exists(), "a run keeps one layout: its old folder"
    state = load_checkpoint(old_run / "checkpoints" / "epoch_0003.pt")
    assert state["evaluators"]["evaluators[2]"]["count"] == 12


def test_an_old_run_is_evaluated_with_its_checkpoint(old_run, run_cli, register_plugin):
    register_plugin(RunningMeanPlugin(), name="running-mean")
    result = run_cli("evaluate", old_run, "--metric", "swd", "--checkpoint", "1", "--num-samples", "8")
    assert result.exit_code == 0, result.output
    assert "epoch_0001.pt  step 4  swd = " in result.output


def test_an_old_run_compares_as_the_same_setting_as_a_new_one(old_run, trained):
    comparison = ganlab.compare([trained, old_run])
    assert comparison.runs["group"].nunique() == 1, "[[hooks]] and [[evaluators]] are one setting"


# -- a sweep of ganlab 0.4 -----------------------------------------------------------------------------------


def test_a_sweep_whose_manifest_says_hooks_is_the_same_sweep(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        tomlwrite.dumps(
            merge(TINY_RECIPE, {"train": {"epochs": 1, "max_steps": 2}, "evaluators": [{"name": "loss-curves"}]})
        ),
        "utf-8",
    )
    grid = ["--grid", "evaluators[0].smoothing=[3, 5]", "--out", str(tmp_path / "runs")]
    first = CliRunner().invoke(main, ["sweep", str(recipe), *grid], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    folder = tmp_path / "runs" / "tiny-sweep"
    manifest = json.loads((folder / "sweep.json").read_text("utf-8"))
    manifest["grid"] = {"hooks[0].smoothing": manifest["grid"].pop("evaluators[0].smoothing")}
    manifest["resolved"]["hooks"] = manifest["resolved"].pop("evaluators")
    del manifest["resolved"]["train"]["grid_every"]  # a setting added since: it counts as its default
    for run in manifest["runs"]:
        run["settings"] = {"hooks[0].smoothing": run["settings"].pop("evaluators[0].smoothing")}
        run["overrides"] = [o.replace("evaluators[0]", "hooks[0]") for o in run["overrides"]]
        as_written_by_ganlab_0_4(folder / run["name"])
    (folder / "sweep.json").write_text(json.dumps(manifest), "utf-8")
    for key in ("evaluators[0].smoothing", "hooks[0].smoothing"):
        again = CliRunner().invoke(
            main,
            ["sweep", str(recipe), "--grid", f"{key}=[3, 5]", "--out", str(tmp_path / "runs")],
            catch_exceptions=False,
        )
        assert again.exit_code == 0, again.output
        assert "2 left as they are, 0 to resume, 0 to start" in again.output
