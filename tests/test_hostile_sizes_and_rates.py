"""Sizes and rates at their edges: a float setting no float32 holds is a recipe error before anything is
built, a rate that outgrows float32 during training ends the run diverged, and a size that cannot fit is
refused before it is allocated. Each ends in a message and an exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganlab_lsgan
import ganlab_regularizers
from ganlab.rundir.rundir import RunDir

RECIPE, DIVERGED = 2, 7


def assert_refused(result, exit_code: int, message: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def run(run_cli, recipe: Path, tmp_path: Path, *overrides: str):
    args = [a for override in overrides for a in ("--set", override)]
    return run_cli("run", recipe, *args, "--out", tmp_path / "runs", "--no-progress")


def the_run(tmp_path: Path) -> RunDir:
    (path,) = (tmp_path / "runs").iterdir()
    return RunDir.open(path)


UNHELD_FLOATS = {
    "nan learning rate": ("optimizer.generator.lr=nan", "optimizer.generator.lr: must be a finite number, got nan"),
    "learning rate inf in float32": ("optimizer.discriminator.lr=1e39", "optimizer.discriminator.lr: must be "
                                     "within float32's range (at most 3.403e+38 in size), got 1e+39"),
    "infinite beta": ("optimizer.generator.betas=[0.5, inf]",
                      "optimizer.generator.betas[1]: must be a finite number, got inf"),
    "infinite gamma": ('schedule.generator={name="step", step_size=1, gamma=inf}',
                       "schedule.generator.gamma: must be a finite number, got inf"),
    "huge gamma": ('schedule.generator={name="step", step_size=1, gamma=1e200}',
                   "schedule.generator.gamma: must be within float32's range"),
    "negative infinite label": ("loss.real_label=-inf", "loss.real_label: must be a finite number, got -inf"),
    "plugin regularizer's weight": ('regularizers[+]={name="r1", gamma=inf}',
                                    "regularizers[0].gamma: must be a finite number, got inf"),
    "plugin loss's target": ('loss={name="lsgan", real_target=nan}',
                             "loss.real_target: must be a finite number, got nan"),
}


@pytest.mark.parametrize("override, message", UNHELD_FLOATS.values(), ids=UNHELD_FLOATS.keys())
def test_a_float_setting_no_float32_holds_is_a_recipe_error_before_the_run_exists(
        override, message, write_recipe, register_plugin, run_cli, tmp_path):
    register_plugin(ganlab_regularizers, name="regularizers")
    register_plugin(ganlab_lsgan, name="lsgan")
    recipe = write_recipe()
    assert_refused(run_cli("validate", recipe, "--set", override), RECIPE, f"recipe.toml: {message}")
    assert_refused(run(run_cli, recipe, tmp_path, override), RECIPE, f"recipe.toml: {message}")
    assert not (tmp_path / "runs").exists()


def step_schedule(lr: float, gamma: float) -> tuple[str, str]:
    return f"optimizer.generator.lr={lr!r}", f'schedule.generator={{name="step", step_size=1, gamma={gamma!r}}}'


def test_a_scheduled_rate_that_outgrows_float32_ends_the_run_diverged_with_the_steps_before_it_logged(
        write_recipe, run_cli, tmp_path):
    result = run(run_cli, write_recipe({"train": {"log_every": 8}}), tmp_path, *step_schedule(2e-4, 1e20))
    message = "schedule.generator: the learning rate became 2e+56 at step 4 (0.0002 times the schedule's factor 1e+60)"
    assert_refused(result, DIVERGED, message)
    run_dir = the_run(tmp_path)
    assert run_dir.read_meta()["status"] == "diverged" and message in run_dir.read_meta()["error"]
    assert [r["step"] for r in run_dir.read_metrics()] == [1, 2, 3]


def test_a_schedule_factor_that_overflows_python_floats_ends_the_run_diverged(write_recipe, run_cli, tmp_path):
    """gamma ** 9 is 1e342, beyond even a Python float: the factor is inf, and the run diverged."""
    result = run(run_cli, write_recipe({"train": {"epochs": 3}}), tmp_path, *step_schedule(1e-320, 1e38))
    assert_refused(result, DIVERGED, "schedule.generator: the learning rate became inf at step 10 (1e-320 times "
                                     "the schedule's factor inf)")
    assert the_run(tmp_path).read_meta()["status"] == "diverged"


def test_an_optimizer_update_that_overflows_float32_ends_the_run_diverged(write_recipe, run_cli, tmp_path):
    """3e38 is a float32, but Adam's first step divides it by 1 - beta1 = 0.5."""
    result = run(run_cli, write_recipe(), tmp_path, "optimizer.generator.lr=3e38")
    assert_refused(result, DIVERGED, "a number overflowed at step 1 (value cannot be converted to type float "
                                     "without overflow)")
    meta = the_run(tmp_path).read_meta()
    assert meta["status"] == "diverged" and "overflowed at step 1" in meta["error"]
