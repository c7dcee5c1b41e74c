"""Sizes and rates at their edges: a float setting no float32 holds is a recipe error before anything is
built, a rate that outgrows float32 during training ends the run diverged, and a size that cannot fit is
refused before it is allocated. Each ends in a message and an exit code, never a traceback."""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
from pathlib import Path

import ganlab_lsgan
import ganlab_regularizers
import numpy as np
import pytest
import torch
from PIL import Image
from test_checks_before_run import assert_refused

import ganlab
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge

ROOT = Path(__file__).parents[1]
RECIPE, DIVERGED = 2, 7


def run(run_cli, recipe: Path, tmp_path: Path, *overrides: str):
    args = [a for override in overrides for a in ("--set", override)]
    return run_cli("run", recipe, *args, "--out", tmp_path / "runs", "--no-progress")


def the_run(tmp_path: Path) -> RunDir:
    (path,) = (tmp_path / "runs").iterdir()
    return RunDir.open(path)


UNHELD_FLOATS = {
    "nan learning rate": ("optimizer.generator.lr=nan", "optimizer.generator.lr: must be a finite number, got nan"),
    "learning rate inf in float32": (
        "optimizer.discriminator.lr=1e39",
        "optimizer.discriminator.lr: must be within float32's range (at most 3.403e+38 in size), got 1e+39",
    ),
    "infinite beta": (
        "optimizer.generator.betas=[0.5, inf]",
        "optimizer.generator.betas[1]: must be a finite number, got inf",
    ),
    "infinite gamma": (
        'schedule.generator={name="step", step_size=1, gamma=inf}',
        "schedule.generator.gamma: must be a finite number, got inf",
    ),
    "huge gamma": (
        'schedule.generator={name="step", step_size=1, gamma=1e200}',
        "schedule.generator.gamma: must be within float32's range",
    ),
    "negative infinite label": ("loss.real_label=-inf", "loss.real_label: must be a finite number, got -inf"),
    "plugin regularizer's weight": (
        'regularizers[+]={name="r1", gamma=inf}',
        "regularizers[0].gamma: must be a finite number, got inf",
    ),
    "plugin loss's target": (
        'loss={name="lsgan", real_target=nan}',
        "loss.real_target: must be a finite number, got nan",
    ),
}


@pytest.mark.parametrize("override, message", UNHELD_FLOATS.values(), ids=UNHELD_FLOATS.keys())
def test_a_float_setting_no_float32_holds_is_a_recipe_error_before_the_run_exists(
    override, message, write_recipe, register_plugin, run_cli, tmp_path
):
    register_plugin(ganlab_regularizers, name="regularizers")
    register_plugin(ganlab_lsgan, name="lsgan")
    recipe = write_recipe()
    assert_refused(run_cli("validate", recipe, "--set", override), RECIPE, f"recipe.toml: {message}")
    assert_refused(run(run_cli, recipe, tmp_path, override), RECIPE, f"recipe.toml: {message}")
    assert not (tmp_path / "runs").exists()


def step_schedule(lr: float, gamma: float) -> tuple[str, str]:
    return f"optimizer.generator.lr={lr!r}", f'schedule.generator={{name="step", step_size=1, gamma={gamma!r}}}'


def test_a_scheduled_rate_that_outgrows_float32_ends_the_run_diverged_with_the_steps_before_it_logged(
    write_recipe, run_cli, tmp_path
):
    result = run(run_cli, write_recipe({"train": {"log_every": 8}}), tmp_path, *step_schedule(2e-4, 1e20))
    message = "schedule.generator: the learning rate became 2e+56 at step 4 (0.0002 times the schedule's factor 1e+60)"
    assert_refused(result, DIVERGED, message)
    run_dir = the_run(tmp_path)
    assert run_dir.read_meta()["status"] == "diverged" and message in run_dir.read_meta()["error"]
    assert [r["step"] for r in run_dir.read_metrics()] == [1, 2, 3]


def test_a_schedule_factor_that_overflows_python_floats_ends_the_run_diverged(write_recipe, run_cli, tmp_path):
    """gamma ** 9 is 1e342, beyond even a Python float: the factor is inf, and the run diverged."""
    result = run(run_cli, write_recipe({"train": {"epochs": 3}}), tmp_path, *step_schedule(1e-320, 1e38))
    assert_refused(
        result,
        DIVERGED,
        "schedule.generator: the learning rate became inf at step 10 (1e-320 times the schedule's factor inf)",
    )
    assert the_run(tmp_path).read_meta()["status"] == "diverged"


def test_an_optimizer_update_that_overflows_float32_ends_the_run_diverged(write_recipe, run_cli, tmp_path):
    """3e38 is a float32, but Adam's first step divides it by 1 - beta1 = 0.5."""
    result = run(run_cli, write_recipe(), tmp_path, "optimizer.generator.lr=3e38")
    assert_refused(
        result, DIVERGED, "a number overflowed at step 1 (value cannot be converted to type float without overflow)"
    )
    meta = the_run(tmp_path).read_meta()
    assert meta["status"] == "diverged" and "overflowed at step 1" in meta["error"]


# -- sizes ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class InMemoryConfig:
    image_size: int = ganlab.param(16, "side of the images", min=8)
    num_images: int = ganlab.param(64, "images held in memory", min=1)


@dataclasses.dataclass
class StatedInMemoryConfig(InMemoryConfig):
    def memory_needs(self, context: ganlab.BuildContext) -> list[ganlab.Need]:
        return [ganlab.Need("num_images", f"{self.num_images:,} images", self.num_images * 3 * self.image_size**2)]


class InMemory:
    """A plugin's data set that holds its images in one array, as synthetic-faces does."""

    def __init__(self, config: InMemoryConfig, context: ganlab.BuildContext):
        self.image_size, self.channels = config.image_size, 3
        self.images = torch.from_numpy(np.zeros((config.num_images, 3, config.image_size, config.image_size), np.uint8))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]

    def describe(self) -> dict:
        return {"source": "in-memory", "count": len(self)}


class InMemoryPlugin:
    @ganlab.hookimpl
    def ganlab_register(self, registry):
        registry.add("dataset", "in-memory", InMemory, InMemoryConfig)
        registry.add("dataset", "in-memory-stated", InMemory, StatedInMemoryConfig)


NO_MACHINE_HOLDS = 10**12
"""Images of 3x16x16 that no machine holds (768 TB): an allocation of them fails at once, touching nothing."""


def test_a_data_set_s_build_is_refused_before_it_runs_when_what_its_config_states_cannot_fit(
    register_plugin, write_recipe, run_cli, tmp_path
):
    register_plugin(InMemoryPlugin(), name="in-memory")
    recipe = write_recipe({"data": {"name": "in-memory-stated", "num_images": NO_MACHINE_HOLDS}})
    assert_refused(
        run_cli("validate", recipe),
        RECIPE,
        "recipe.toml: data.num_images: needs about 698.49 TiB of memory (1,000,000,000,000 images: 698.49 TiB",
    )
    assert_refused(run(run_cli, recipe, tmp_path), RECIPE, "data.num_images: needs about 698.49 TiB")
    assert not (tmp_path / "runs").exists()


def test_an_allocation_no_estimate_foresaw_ends_as_one_line_naming_the_command(
    register_plugin, write_recipe, run_cli, tmp_path
):
    register_plugin(InMemoryPlugin(), name="in-memory")
    recipe = write_recipe({"data": {"name": "in-memory", "num_images": NO_MACHINE_HOLDS}})
    result = run_cli("validate", recipe)
    assert_refused(result, 1, "ganlab: error: ganlab validate ran out of memory (Unable to allocate")
    assert "give it smaller sizes" in result.output and len(result.output.strip().splitlines()) == 1
    assert_refused(run(run_cli, recipe, tmp_path), 1, "ganlab: error: ganlab run ran out of memory")
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads what the process maps from /proc")
def test_a_data_set_s_build_counts_against_the_process_s_own_memory_limit(write_recipe, tmp_path):
    """ulimit -v leaves this process a few GiB however much the machine has free: drawing 2 faces at 4096x4096
    (7.5 GiB of canvases) is refused before it starts, not ended by NumPy's MemoryError half way."""
    recipe = write_recipe({"data": {"image_size": 4096, "num_images": 2}, "train": {"batch_size": 2, "grid_size": 1}})
    mapped_now = (
        int(
            next(
                line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmSize:")
            ).split()[1]
        )
        * 1024
    )
    limit = mapped_now + 3 * 2**30
    result = subprocess.run(
        [sys.executable, "-m", "ganlab", "validate", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY)),
    )
    assert result.returncode == RECIPE, result.stderr
    assert "recipe.toml: data.image_size: needs about" in result.stderr
    assert "drawing 2 faces at a time: 7.50 GiB" in result.stderr and "Traceback" not in result.stderr


GENERATED_AT_ONCE = {
    "diversity pairs": (
        {"name": "diversity", "num_pairs": 10**9},
        "evaluators[0].num_pairs: needs about 1.43 TiB of "
        "memory (2,000,000,000 generated images of 3x16x16 and their pairs' indices: 1.43 TiB)",
    ),
    "fid samples": (
        {"name": "fid", "num_samples": 10**9},
        "evaluators[0].num_samples: needs about 15.60 TiB of memory "
        "(1,000,000,000 generated images of 3x16x16 and their Inception features",
    ),
    "Inception batch": ({"name": "kid", "batch_size": 10**6}, "evaluators[0].batch_size: needs about"),
    "swd samples": (
        {"name": "swd", "num_samples": 10**12},
        "evaluators[0].num_samples: needs about 135.06 PiB of "
        "memory (1,000,000,000,000 generated images of 3x16x16, as many real ones and their patches",
    ),
}


@pytest.mark.parametrize("evaluator, message", GENERATED_AT_ONCE.values(), ids=GENERATED_AT_ONCE.keys())
def test_an_evaluator_that_would_generate_more_than_memory_holds_is_refused_before_training(
    evaluator, message, write_recipe, run_cli, tmp_path
):
    recipe = write_recipe({"evaluators": [evaluator]})
    assert_refused(run_cli("validate", recipe), RECIPE, f"recipe.toml: {message}")
    assert_refused(run(run_cli, recipe, tmp_path), RECIPE, message)
    assert not (tmp_path / "runs").exists()


CONDITIONAL = merge(
    TINY_RECIPE,
    {
        "data": {"attributes": ["glasses"]},
        "generator": {"name": "cdcgan"},
        "discriminator": {"name": "cdcgan-projection"},
        "train": {"epochs": 1},
    },
)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> ganlab.RunResult:
    return ganlab.run(CONDITIONAL, out=tmp_path_factory.mktemp("runs"), progress=False)


def test_a_billion_conditioned_images_in_a_grid_are_refused_before_any_is_drawn(conditional_run, run_cli, tmp_path):
    result = run_cli(
        "generate", conditional_run.path, "--num", 10**9, "--condition", "glasses=1", "-o", tmp_path / "grid.png"
    )
    assert_refused(result, 1, "--num 1000000000: a grid of 1000000000 images of 3x16x16 needs about")
    assert not (tmp_path / "grid.png").exists()
    with pytest.raises(ganlab.GanlabError, match="--num 1000000000: a grid of 1000000000 images"):
        conditional_run.generate(10**9, condition="glasses=1")


def test_score_refuses_a_batch_no_memory_holds_before_scoring_any_image(run_cli, tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 40, 90, 60)).save(folder / f"face_{i}.png")
    result = run_cli("score", folder, folder, "--size", 4096, "--batch-size", 4096)
    assert_refused(
        result,
        RECIPE,
        "--batch-size: needs about 388.09 GiB of memory (a batch of 4,096 images of "
        "3x4096x4096 and Inception's inputs of them",
    )
