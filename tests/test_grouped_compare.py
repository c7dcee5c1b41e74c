"""``ganlab compare`` groups runs that differ only in their seed, gives each group's seed spread, and says
which differences between groups are larger than it.

The run directories here are written by hand with known numbers (a recipe, meta.json, two epochs of
metrics.jsonl, evaluations.jsonl), so every statistic can be checked against numpy's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ganlab
from ganlab.common import tomlwrite
from ganlab.compare.seed_spread import RESAMPLES, difference, spread
from ganlab.testing import TINY_RECIPE, merge


def write_run(
    folder: Path,
    name: str,
    seed: int,
    swd: float,
    loss_d: tuple[float, float] = (1.0, 1.2),
    changes: dict | None = None,
) -> Path:
    """A finished two-epoch run: loss_d is (first, second) value of the last epoch; swd its final score,
    after an earlier one that must not count."""
    path = folder / name
    (path / "samples").mkdir(parents=True)
    recipe = merge(TINY_RECIPE, {"experiment": {"name": name.split("-s")[0], "seed": seed}, **(changes or {})})
    (path / "recipe.toml").write_text(tomlwrite.dumps(recipe), "utf-8")
    (path / "meta.json").write_text(
        json.dumps(
            {"status": "finished", "seed": seed, "steps": 4, "total_steps": 4, "epochs_completed": 2, "epochs": 2}
        ),
        "utf-8",
    )
    steps = [(1, 1, 5.0), (2, 1, 6.0), (3, 2, loss_d[0]), (4, 2, loss_d[1])]
    (path / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "epoch": e, "loss_d": v, "loss_g": 2 * v, "d_real": 0.6, "d_fake": 0.4}) + "\n"
            for s, e, v in steps
        ),
        "utf-8",
    )
    (path / "evaluations.jsonl").write_text(
        "".join(
            json.dumps({"metric": "swd", "value": v, "step": s, "epoch": e, "num_generated": 64}) + "\n"
            for v, s, e in ((999.0, 2, 1), (swd, 4, 2))
        ),
        "utf-8",
    )
    return path


SMOOTHED = {"loss": {"real_label": 0.9}}
PLAIN = {"loss": {"real_label": 1.0}}


@pytest.fixture
def sweep_folder(tmp_path) -> Path:
    """What a sweep writes: one run directory per setting and seed, a manifest, and a stray notes file."""
    folder = tmp_path / "sweep"
    for seed, swd in enumerate((10.0, 11.0, 12.0)):
        write_run(folder, f"smooth-s{seed}", seed, swd, changes=SMOOTHED)
    for seed, swd in enumerate((20.0, 21.0, 22.0)):
        write_run(folder, f"plain-s{seed}", seed, swd, changes=PLAIN)
    (folder / "sweep.json").write_text("{}", "utf-8")
    (folder / "logs").mkdir()
    (folder / "logs" / "smooth-s0.log").write_text("training...", "utf-8")
    (folder / "notes.txt").write_text("ran on the big box", "utf-8")
    return folder


def rows(frame, **where):
    for key, value in where.items():
        frame = frame[frame[key] == value]
    return frame


def test_group_statistics_equal_numpys(tmp_path):
    values = [10.0, 12.5, 14.0]
    paths = [write_run(tmp_path, f"a-s{seed}", seed, swd, loss_d=(seed, 3.0)) for seed, swd in enumerate(values)]
    groups = ganlab.compare(paths).groups
    swd = rows(groups, quantity="swd").iloc[0]
    assert swd["n"] == 3
    assert swd["mean"] == pytest.approx(np.mean(values))
    assert swd["std"] == pytest.approx(np.std(values, ddof=1))
    last_epoch_means = [(seed + 3.0) / 2 for seed in range(3)]  # the last epoch's two steps, per run
    loss_d = rows(groups, quantity="loss_d").iloc[0]
    assert loss_d["mean"] == pytest.approx(np.mean(last_epoch_means))
    assert loss_d["std"] == pytest.approx(np.std(last_epoch_means, ddof=1))


def test_the_bootstrap_interval_is_reproducible_and_holds_the_mean():
    values = [3.0, 7.0, 4.0, 9.0, 5.0]
    first, again = spread(values), spread(values)
    assert first == again
    assert min(values) <= first.low < np.mean(values) < first.high <= max(values)


def test_the_bootstrap_interval_is_the_percentile_interval_of_resampled_means():
    values = np.array([3.0, 7.0, 4.0, 9.0, 5.0])
    rng = np.random.default_rng(12345)
    means = values[rng.integers(0, len(values), size=(RESAMPLES, len(values)))].mean(axis=1)
    expected = np.percentile(means, [2.5, 97.5])
    found = spread(values)
    assert found.low == pytest.approx(expected[0], abs=0.15) and found.high == pytest.approx(expected[1], abs=0.15)


def test_a_single_run_has_no_spread():
    found = spread([4.0])
    assert found.n == 1 and found.mean == 4.0
    assert np.isnan(found.std) and np.isnan(found.low) and np.isnan(found.high)
    assert difference([4.0], [5.0, 6.0]).outside is None


def test_runs_group_by_everything_but_the_seed(sweep_folder, tmp_path):
    other_data = write_run(tmp_path, "smooth-other-data", 0, 10.0, changes={**SMOOTHED, "data": {"seed": 7}})
    comparison = ganlab.compare([sweep_folder, other_data])
    membership = comparison.runs.groupby("group", sort=False)["run"].apply(list).to_dict()
    assert list(membership.values()) == [
        ["plain-s0", "plain-s1", "plain-s2"],
        ["smooth-s0", "smooth-s1", "smooth-s2"],
        ["smooth-other-data"],
    ]
    names = list(membership)
    assert names[0].startswith("data.seed=0, loss.real_label=1")
    assert names[2].startswith("data.seed=7, loss.real_label=0.9")


def test_a_gap_larger_than_the_seeds_is_outside_and_a_smaller_one_within(tmp_path):
    low = [write_run(tmp_path, f"low-s{s}", s, v, changes=SMOOTHED) for s, v in enumerate((10.0, 11.0, 12.0))]
    high = [write_run(tmp_path, f"high-s{s}", s, v, changes=PLAIN) for s, v in enumerate((20.0, 21.0, 22.0))]
    close = [
        write_run(tmp_path, f"close-s{s}", s, v, changes={"loss": {"real_label": 0.95}})
        for s, v in enumerate((10.5, 12.5, 11.0))
    ]
    comparison = ganlab.compare(low + high + close)
    swd = rows(comparison.differences, quantity="swd").set_index("group_b")
    assert swd.loc["loss.real_label=1", "verdict"] == "outside the seed spread"
    assert swd.loc["loss.real_label=1", "difference"] == pytest.approx(10.0)
    assert swd.loc["loss.real_label=1", "low"] > 0
    within = swd.loc["loss.real_label=0.95"]
    within = within[within["group_a"] == "loss.real_label=0.9"].iloc[0]
    assert within["verdict"] == "within the seed spread" and within["low"] < 0 < within["high"]
    statement = comparison.statement
    outside_part, within_part = statement.split("Within the seed spread")
    assert "swd (final): loss.real_label=1 minus loss.real_label=0.9 = +10" in outside_part
    assert "swd (final): loss.real_label=0.95 minus loss.real_label=0.9 = +0.3333" in within_part


def test_a_number_one_group_has_not_logged_yet_is_said_so_not_given_as_nan(tmp_path):
    scored = [write_run(tmp_path, f"a-s{s}", s, v, changes=SMOOTHED) for s, v in enumerate((10.0, 11.0))]
    unscored = [write_run(tmp_path, f"b-s{s}", s, 12.0, changes=PLAIN) for s in range(2)]
    for run in unscored:  # scored later (ganlab evaluate) than the first group
        (run / "evaluations.jsonl").write_text("", "utf-8")
    statement = ganlab.compare(scored + unscored).statement
    assert "swd (final): loss.real_label=1 minus loss.real_label=0.9 = no difference (a group has no run" in statement
    assert "nan" not in statement


def test_with_one_run_per_setting_the_spread_is_unknown(tmp_path):
    runs = [write_run(tmp_path, "a-s0", 0, 10.0, changes=SMOOTHED), write_run(tmp_path, "b-s0", 0, 30.0, changes=PLAIN)]
    comparison = ganlab.compare(runs)
    assert set(comparison.differences["verdict"]) == {"spread unknown"}
    assert comparison.statement.startswith("No two runs differ only in their seed, so the seed spread is unknown")


def test_a_sweep_folder_compares_as_groups(sweep_folder, run_cli, tmp_path):
    result = run_cli("compare", sweep_folder, "-o", tmp_path / "sweep.html")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Groups (runs that differ only in their seed):" in text
    assert "loss.real_label=0.9: smooth-s0, smooth-s1, smooth-s2" in text
    table = text[text.index("Groups") :]
    swd_row = next(line for line in table.splitlines() if line.startswith("swd (final)"))
    assert "21 ± 1 [20, 22] (n=3)" in swd_row and "11 ± 1 [10, 12] (n=3)" in swd_row
    assert "Outside the seed spread" in text
    page = (tmp_path / "sweep.html").read_text("utf-8")
    groups_part = page[page.index('id="seed-groups"') : page.index('id="recipe-differences"')]
    assert "21 ± 1 [20, 22] (n=3)" in groups_part and "Outside the seed spread" in groups_part
    assert "the band spans the lowest to the highest seed" in page


def test_a_folder_holding_no_runs_is_an_error(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    result = run_cli("compare", tmp_path / "empty")
    assert result.exit_code == 5
    assert "no folder in it is one" in result.output
    with pytest.raises(ganlab.GanlabError, match="no folder in it is one"):
        ganlab.compare(tmp_path / "empty")
