"""Every built-in schedule gives, step by step, the rates torch's own schedulers give, and a run logs them."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from torch.optim import lr_scheduler

import ganlab
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import resolve, resolve_component
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.lifecycle import run_recipe

TOTAL = 40


@pytest.fixture(scope="module")
def registry():
    return load_plugins(entry_points=False).registry


def ours(registry, table: dict, total: int = TOTAL) -> list[float]:
    component = resolve_component(table, "schedule", "schedule.generator", registry, "test.toml")
    schedule = component.entry.factory(component.config, None)
    return [schedule.factor(step, total) for step in range(total)]


def torchs(make, total: int = TOTAL) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = make(optimizer)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def warmed_up(make, steps: int, start: float):
    return lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, start, 1.0, total_iters=steps), make(o)], milestones=[steps]
    )


CASES = {
    "constant": ({"name": "constant"}, lambda o: lr_scheduler.ConstantLR(o, factor=1.0)),
    "linear-decay": (
        {"name": "linear-decay", "end_factor": 0.1},
        lambda o: lr_scheduler.LinearLR(o, 1.0, 0.1, total_iters=TOTAL),
    ),
    "cosine": (
        {"name": "cosine", "min_factor": 0.05},
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL, eta_min=0.05),
    ),
    "step": ({"name": "step", "step_size": 7, "gamma": 0.5}, lambda o: lr_scheduler.StepLR(o, 7, 0.5)),
    "warm constant": (
        {"name": "constant", "warmup_steps": 5, "warmup_start_factor": 0.1},
        lambda o: lr_scheduler.LinearLR(o, 0.1, 1.0, total_iters=5),
    ),
    "warm linear-decay": (
        {"name": "linear-decay", "warmup_steps": 5, "warmup_start_factor": 0.2, "end_factor": 0.0},
        warmed_up(lambda o: lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=TOTAL - 5), 5, 0.2),
    ),
    "warm cosine": (
        {"name": "cosine", "warmup_steps": 8},
        warmed_up(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL - 8), 8, 1 / 3),
    ),
    "warm step": (
        {"name": "step", "warmup_steps": 3, "step_size": 10, "gamma": 0.3},
        warmed_up(lambda o: lr_scheduler.StepLR(o, 10, 0.3), 3, 1 / 3),
    ),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES)
def test_a_schedule_gives_torchs_rate_at_every_step(registry, case):
    table, make = CASES[case]
    assert ours(registry, table) == pytest.approx(torchs(make), rel=1e-9, abs=1e-12)


def test_linear_decay_holds_the_rate_until_its_start_step(registry):
    factors = ours(registry, {"name": "linear-decay", "start_step": 10, "end_factor": 0.0}, total=20)
    assert factors[:11] == [1.0] * 11 and factors[15] == pytest.approx(0.5) and factors[19] == pytest.approx(0.1)


def test_a_run_logs_the_scheduled_rates_of_each_network(tmp_path):
    plugins = load_plugins(entry_points=False)
    recipe = resolve(
        merge(
            TINY_RECIPE,
            {
                "schedule": {
                    "generator": {"name": "cosine"},
                    "discriminator": {"name": "step", "step_size": 3, "gamma": 0.5},
                },
                "optimizer": {"discriminator": {"lr": 4e-4}},
            },
        ),
        plugins.registry,
        "ttur.toml",
    )
    records = run_recipe(recipe, plugins, tmp_path, progress=False).read_metrics()
    total = len(records)
    expected_g = torchs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=total), total)
    expected_d = torchs(lambda o: lr_scheduler.StepLR(o, 3, 0.5), total)
    assert [r["lr_g"] for r in records] == pytest.approx([2e-4 * f for f in expected_g], rel=1e-9)
    assert [r["lr_d"] for r in records] == pytest.approx([4e-4 * f for f in expected_d], rel=1e-9)


@dataclasses.dataclass
class HalvingConfig(ganlab.WarmupConfig):
    every: int = ganlab.param(2, "steps between two halvings", min=1)


@ganlab.component("schedule", "halving", config=HalvingConfig, help="the rate halved every `every` steps")
class Halving(ganlab.WarmupSchedule):
    """A plugin's schedule: it writes only what follows the warm-up, and gets the warm-up from ganlab."""

    def __init__(self, config, context):
        super().__init__(config, context)
        self.every = config.every

    def after(self, step, steps):
        return 0.5 ** (step // self.every)


def test_a_plugin_schedule_gets_the_built_ins_warm_up(register_plugin, write_recipe, train_recipe, run_cli):
    register_plugin(sys.modules[__name__], name="halving")
    assert "warmup_steps: int = 0" in run_cli("list", "schedule").stdout.split("halving  [")[1]
    recipe = write_recipe(
        {"schedule": {"generator": {"name": "halving", "warmup_steps": 4, "warmup_start_factor": 0.25}}}
    )
    rates = [record["lr_g"] / 2e-4 for record in train_recipe(recipe).read_metrics()]
    assert rates == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 0.5, 0.5], rel=1e-9)
