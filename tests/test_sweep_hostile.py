"""ganlab sweep against what users really give it: a sweep's size is checked from the grid's lengths and
the seeds before a single run is expanded; a damaged sweep folder (a sweep.json edited by hand, cut short,
or something else in place of a file or folder) is refused naming the file and what is wrong; grid keys,
--grid options and --set overrides are compared as the settings they name, however spelt. Whatever is
refused, the sweep's folder is left as it was, and no lock file is left behind."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from test_sweep import manifest, sweep, write_recipe, write_sweep_recipe

from ganlab.loading.manager import load_plugins_or_warn
from ganlab.sweeps.sweep import SweepRequest, plan_sweep

QUICKSTART = Path(__file__).parents[1] / "experiments" / "quickstart.toml"
SMOOTHING = ["--grid", "evaluators[0].smoothing=[3]"]
"""A one-run grid over the tiny recipe's one evaluator (loss-curves), its key spelt with an index."""


def files(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` and the bytes of each file (None for anything else): what must not change."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def assert_refused(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-run sweep of the tiny recipe, its grid key spelt evaluators[0].smoothing."""
    root = tmp_path_factory.mktemp("finished")
    result = sweep(
        str(write_recipe(root, epochs=1, max_steps=2)), *SMOOTHING, "--out", str(root / "runs"), "--threads", "1"
    )
    assert result.exit_code == 0, result.output
    return root / "runs" / "tiny-sweep"


@pytest.fixture
def sweep_copy(finished, tmp_path) -> Path:
    """A copy of the finished sweep, with the recipe it was made from beside its runs folder, to damage."""
    shutil.copy(finished.parents[1] / "tiny.toml", tmp_path / "tiny.toml")
    shutil.copytree(finished, tmp_path / "runs" / "tiny-sweep")
    return tmp_path / "runs" / "tiny-sweep"


def sweep_again(folder: Path, *options: str):
    """The command that made ``folder``'s sweep, run again (with more ``options``)."""
    return sweep(str(folder.parents[1] / "tiny.toml"), *SMOOTHING, "--out", str(folder.parent), *options)


# --- Sizes: bounded before anything is expanded -------------------------------------------------------


def test_six_grid_keys_of_ten_values_are_refused_at_once_naming_each_size(tmp_path):
    grid = [
        arg
        for key in (
            "loss.real_label",
            "optimizer.generator.lr",
            "optimizer.discriminator.lr",
            "train.batch_size",
            "generator.latent_dim",
            "discriminator.features",
        )
        for arg in ("--grid", f"{key}=[{', '.join(str(v) for v in range(1, 11))}]")
    ]
    result = sweep(str(QUICKSTART), *grid, "--out", str(tmp_path / "runs"))
    assert_refused(
        result,
        2,
        "the sweep has 1,000,000 runs (--grid loss.real_label (10 values) x ",
        "--grid discriminator.features (10 values) x seeds = 1), more than the 1,000 a sweep may have",
    )
    assert not (tmp_path / "runs").exists()


def test_a_grid_times_its_seeds_past_the_limit_is_refused(tmp_path):
    result = sweep(
        str(write_recipe(tmp_path)),
        "--grid",
        "loss.real_label=[0.9, 1.0]",
        "--seeds",
        "600",
        "--out",
        str(tmp_path / "runs"),
    )
    assert_refused(result, 2, "the sweep has 1,200 runs (--grid loss.real_label (2 values) x seeds = 600)")
    assert not (tmp_path / "runs").exists()


def test_a_hundred_million_seeds_are_refused_as_an_option_and_as_a_table_key(tmp_path):
    result = sweep(str(write_recipe(tmp_path)), "--seeds", "100000000", "--out", str(tmp_path / "runs"))
    assert_refused(result, 2, "'--seeds': 100000000 is not in the range 1<=x<=1000")
    table = write_sweep_recipe(tmp_path, "[sweep]\nseeds = 100000000\n")
    result = sweep(str(table), "--out", str(tmp_path / "runs"))
    assert_refused(result, 2, f"{table}: sweep.seeds: must be at most 1000, got 100000000")
    assert not (tmp_path / "runs").exists()


def test_a_grid_of_more_keys_than_the_limit_is_refused(tmp_path):
    keys = "".join(f'"data.key_{i}" = [{i}]\n' for i in range(40))
    recipe = write_sweep_recipe(tmp_path, "[sweep.grid]\n" + keys)
    result = sweep(str(recipe), "--out", str(tmp_path / "runs"))
    assert_refused(
        result,
        2,
        f'{recipe}: the grid has 40 keys (sweep.grid."data.key_0", sweep.grid."data.key_1", '
        "...), more than the 32 a sweep may have",
    )
    assert not (tmp_path / "runs").exists()


# --- Refusals and errors leave the folder as it was ---------------------------------------------------


def test_a_run_refused_by_its_check_leaves_no_folder_and_no_lock(tmp_path):
    result = sweep(str(write_recipe(tmp_path)), "--grid", "train.batch_size=[16, 128]", "--out", str(tmp_path / "runs"))
    assert_refused(result, 2, "run batch_size-128_seed-0")
    assert not (tmp_path / "runs").exists()


def test_a_finished_sweep_leaves_no_lock(finished):
    assert not (finished / ".sweep.lock").exists()
    assert [run["status"] for run in manifest(finished)["runs"]] == ["finished"]


def test_submitit_asked_for_slurm_where_there_is_none_leaves_nothing(tmp_path):
    pytest.importorskip("submitit")
    if shutil.which("srun"):
        pytest.skip("Slurm is installed here")
    result = sweep(
        str(write_recipe(tmp_path)),
        "--out",
        str(tmp_path / "runs"),
        "--launcher",
        "submitit",
        "--submitit-cluster",
        "slurm",
    )
    assert_refused(result, 1, "--launcher submitit: submitit cannot run jobs here")
    assert not (tmp_path / "runs").exists()


def test_without_submitit_a_sweep_still_to_run_is_refused_and_its_folder_unchanged(sweep_copy, monkeypatch):
    shutil.rmtree(sweep_copy / manifest(sweep_copy)["runs"][0]["name"])  # its one run is to start again
    before = files(sweep_copy)
    monkeypatch.setitem(sys.modules, "submitit", None)
    result = sweep_again(sweep_copy, "--launcher", "submitit")
    assert_refused(result, 1, "pip install submitit")
    assert files(sweep_copy) == before


def test_a_file_in_place_of_the_logs_folder_is_left_alone_when_no_run_is_left(sweep_copy):
    shutil.rmtree(sweep_copy / "logs")
    (sweep_copy / "logs").write_text("notes\n")
    result = sweep_again(sweep_copy)
    assert result.exit_code == 0, result.output
    assert "1 left as they are, 0 to resume, 0 to start" in result.output
    assert (sweep_copy / "logs").read_text() == "notes\n"


def test_a_file_in_place_of_the_logs_folder_is_refused_by_name_when_a_run_is_to_start(sweep_copy):
    shutil.rmtree(sweep_copy / "logs")
    (sweep_copy / "logs").write_text("notes\n")
    shutil.rmtree(sweep_copy / manifest(sweep_copy)["runs"][0]["name"])
    before = files(sweep_copy)
    result = sweep_again(sweep_copy)
    assert_refused(result, 5, f"the sweep's logs: {str(sweep_copy / 'logs')!r} is a file, not a folder")
    assert files(sweep_copy) == before


# --- A damaged sweep.json is refused, naming it and the field ------------------------------------------


def damaged(change):
    """A function that rewrites a sweep.json with ``change`` applied to what it holds."""

    def rewrite(path: Path) -> None:
        path.write_text(json.dumps(change(json.loads(path.read_text("utf-8")))), "utf-8")

    return rewrite


def with_run_field_removed(recorded: dict) -> dict:
    del recorded["runs"][0]["status"]
    return recorded


@pytest.mark.parametrize(
    "damage, problem",
    [
        (damaged(lambda m: {"format": 1}), "it has no 'name' or 'recipe' or 'overrides' or 'resolved'"),
        (damaged(lambda m: {**m, "resolved": []}), "it has 'resolved' as a list ([]), not an object"),
        (damaged(lambda m: {**m, "seeds": ["0"]}), "it has 'seeds' as a list (['0']), not a list of integers"),
        (damaged(lambda m: {**m, "grid": {"evaluators[0].smoothing": 3}}), "it has 'grid' as an object"),
        (
            damaged(lambda m: {**m, "format": 2}),
            "it has 'format' as an integer (2), not 1, the format this ganlab writes",
        ),
        (damaged(with_run_field_removed), "runs[0] has no 'status'"),
        (damaged(lambda m: [m]), "it is a list ([{"),
        (
            lambda path: path.write_text('{"format": 1, "name": "tiny-sw', "utf-8"),
            "it is not JSON (Unterminated string",
        ),
        (lambda path: path.write_text("[" * 100_000, "utf-8"), "it is JSON nested too deep"),
        (lambda path: os.truncate(path, 64 << 20), "it is 67,108,864 bytes, more than 16,777,216"),
        (lambda path: (path.unlink(), os.mkfifo(path)), "it is a named pipe (FIFO), not a file"),
        (lambda path: (path.unlink(), path.mkdir()), "it cannot be read (Is a directory)"),
    ],
    ids=[
        "only-format",
        "resolved-list",
        "seeds-texts",
        "grid-values",
        "format-2",
        "run-status",
        "a-list",
        "cut-short",
        "nested",
        "huge",
        "fifo",
        "folder",
    ],
)
def test_a_damaged_manifest_is_refused_naming_it_and_the_folder_is_unchanged(sweep_copy, damage, problem):
    path = sweep_copy / "sweep.json"
    damage(path)
    before = {name: content for name, content in files(sweep_copy).items() if name != "sweep.json"}
    result = sweep_again(sweep_copy)
    assert_refused(
        result, 5, f"ganlab: error: {str(path)!r}: {problem}", "move the folder away, or give the sweep another --name"
    )
    assert {name: content for name, content in files(sweep_copy).items() if name != "sweep.json"} == before
    assert not (sweep_copy / ".sweep.lock").exists()


# --- Keys are compared as the settings they name --------------------------------------------------------


def test_two_spellings_of_one_setting_in_the_sweep_table_are_refused_naming_both(tmp_path):
    recipe = write_sweep_recipe(
        tmp_path, '[sweep.grid]\n"evaluators[0].smoothing" = [1, 2]\n"evaluators.0.smoothing" = [3]\n'
    )
    result = sweep(str(recipe), "--out", str(tmp_path / "runs"))
    assert_refused(
        result,
        2,
        f'{recipe}: sweep.grid."evaluators.0.smoothing": the same setting as '
        'sweep.grid."evaluators[0].smoothing"; list all its values under one key',
    )
    assert not (tmp_path / "runs").exists()


def test_two_spellings_of_one_setting_as_grid_options_are_refused_naming_both(tmp_path):
    result = sweep(
        str(write_recipe(tmp_path)),
        "--grid",
        "evaluators[0].smoothing=[1]",
        "--grid",
        "evaluators.0.smoothing=[2]",
        "--out",
        str(tmp_path / "runs"),
    )
    assert_refused(result, 2, "--grid evaluators.0.smoothing: the same setting as --grid evaluators[0].smoothing")
    assert not (tmp_path / "runs").exists()


def test_a_grid_option_replaces_the_table_key_of_the_same_setting_however_spelt(tmp_path):
    recipe = write_sweep_recipe(
        tmp_path, '[sweep.grid]\n"evaluators[0].smoothing" = [1, 2]\n"loss.real_label" = [0.9]\n'
    )
    plan = plan_sweep(SweepRequest(recipe, grid=("evaluators.0.smoothing=[5]",)), load_plugins_or_warn())
    assert [(axis.key, axis.values) for axis in plan.axes] == [
        ("loss.real_label", (0.9,)),
        ("evaluators.0.smoothing", (5,)),
    ]
    assert [run.name for run in plan.runs] == ["real_label-0.9_smoothing-5_seed-0"]


def test_a_set_of_a_setting_the_grid_sweeps_is_refused_naming_both(tmp_path):
    result = sweep(
        str(write_recipe(tmp_path)),
        "--grid",
        "evaluators.0.smoothing=[1, 2]",
        "--set",
        "evaluators[0].smoothing=4",
        "--out",
        str(tmp_path / "runs"),
    )
    assert_refused(
        result,
        2,
        "--set evaluators[0].smoothing=4: --grid evaluators.0.smoothing sweeps the same "
        "setting, so every run would override it",
    )
    assert not (tmp_path / "runs").exists()


def test_the_later_of_two_sets_of_one_setting_wins_however_spelt(tmp_path):
    request = SweepRequest(write_recipe(tmp_path), overrides=("evaluators[0].smoothing=4", "evaluators.0.smoothing=5"))
    assert plan_sweep(request, load_plugins_or_warn()).base.evaluators[0].config.smoothing == 5


def test_a_grid_key_that_appends_is_refused(tmp_path):
    recipe = write_sweep_recipe(tmp_path, '[sweep.grid]\n"evaluators[+]" = [{name = "samples"}]\n')
    result = sweep(str(recipe), "--out", str(tmp_path / "runs"))
    assert_refused(
        result, 2, 'sweep.grid."evaluators[+]": [+] appends a table to an array; a grid key names one setting'
    )


def test_the_same_sweep_with_its_grid_key_spelt_otherwise_is_continued(sweep_copy):
    result = sweep(
        str(sweep_copy.parents[1] / "tiny.toml"),
        "--grid",
        "evaluators.0.smoothing=[3]",
        "--out",
        str(sweep_copy.parent),
    )
    assert result.exit_code == 0, result.output
    assert "1 left as they are, 0 to resume, 0 to start" in result.output
