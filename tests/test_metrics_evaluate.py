"""``ganlab evaluate``: scoring a finished run's checkpoints after the fact."""

import json
import shutil

import pytest

from conftest import TINY_RECIPE, merge
from ganlab import tomlwrite
from ganlab.engine import run_recipe
from ganlab.metrics.weights import WEIGHTS_FILE
from ganlab.plugins import load_plugins
from ganlab.recipe import load_recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-epoch run whose recipe asks for the diversity hook."""
    root = tmp_path_factory.mktemp("evaluate")
    changes = {"hooks": [{"name": "diversity", "num_pairs": 5, "every": 5}]}
    (root / "recipe.toml").write_text(tomlwrite.dumps(merge(TINY_RECIPE, changes)), "utf-8")
    plugins = load_plugins(entry_points=False)
    return run_recipe(load_recipe(root / "recipe.toml", plugins.registry), plugins, root / "runs",
                      progress=False).path


@pytest.fixture
def run_dir(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def evaluations(run_dir):
    return [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


def test_a_chosen_checkpoint_is_scored_at_its_own_step_and_appended(run_dir, run_cli):
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--checkpoint", "1", "--num-samples", "8")
    assert result.exit_code == 0, result.output
    added = evaluations(run_dir)[len(before):]
    assert [r["metric"] for r in added] == ["swd", "swd_16px"]
    assert all(r["checkpoint"] == "epoch_0001.pt" and r["epoch"] == 1 and r["step"] == 4 for r in added)
    assert added[0]["num_generated"] == 8
    assert "epoch_0001.pt  step 4  swd = " in result.output and "appended 2 scores" in result.output


def test_without_options_every_checkpoint_is_scored_by_the_recipes_metric_hooks(run_dir, run_cli):
    before = len(evaluations(run_dir))
    assert run_cli("evaluate", run_dir).exit_code == 0
    added = evaluations(run_dir)[before:]
    assert [(r["metric"], r["checkpoint"]) for r in added] == [
        ("diversity", "epoch_0001.pt"), ("diversity_real", "epoch_0001.pt"),
        ("diversity", "epoch_0002.pt"), ("diversity_real", "epoch_0002.pt")]
    assert added[0]["num_pairs"] == 5           # the recipe's own settings


def test_an_unknown_metric_is_named_with_close_matches(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "sdw")
    assert result.exit_code == 2 and "--metric 'sdw': no such hook (did you mean 'swd'?)" in result.output


def test_a_missing_checkpoint_lists_the_available_ones(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "swd", "--checkpoint", "9")
    assert result.exit_code == 6
    assert "no checkpoint '9'" in result.output and "available: epoch_0001.pt, epoch_0002.pt" in result.output


def test_num_samples_for_a_metric_without_that_setting_is_refused(run_dir, run_cli):
    result = run_cli("evaluate", run_dir, "--metric", "diversity", "--num-samples", "8")
    assert result.exit_code == 2 and "hook 'diversity' has no num_samples setting" in result.output


def test_fid_without_weights_fails_before_scoring_anything(run_dir, run_cli):
    before = evaluations(run_dir)
    result = run_cli("evaluate", run_dir, "--metric", "fid")
    assert result.exit_code == 2 and WEIGHTS_FILE in result.output
    assert evaluations(run_dir) == before


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, run_cli):
    result = run_cli("evaluate", tmp_path)
    assert result.exit_code == 5 and "not a run directory" in result.output
