"""Evaluators see a run through ``ganlab.RunView``: the engine's run is one, and every built-in evaluator does all
its work with nothing else of it, so the engine may change whatever the contract does not name."""

from __future__ import annotations

import dataclasses
from typing import Any

import labelled_data

from conftest import RUN_VIEW
from ganlab import RunDir, RunView
from ganlab.recipes.recipe import load_recipe
from ganlab.training.assemble import build
from ganlab.training.lifecycle import start_meta
from ganlab.training.loop import Trainer

N = 3
EVERY_BUILT_IN_EVALUATOR = [
    {"name": "samples"},
    {"name": "loss-curves"},
    {"name": "d-distributions", "num_images": 8},
    {"name": "training-health", "num_images": 8},
    {"name": "fid", "num_samples": N, "num_reference": N, "batch_size": N},
    {"name": "kid", "num_samples": N, "num_reference": N, "batch_size": N, "subsets": 2, "subset_size": N},
    {"name": "precision-recall", "num_samples": N, "num_reference": N, "batch_size": N, "neighborhood": 2},
    {"name": "swd", "num_samples": 16},
    {"name": "diversity", "num_pairs": 5},
]
CONDITIONAL_EVALUATORS = [{"name": "attribute-control", "num_real": 16, "classifier_epochs": 1, "num_samples": 8}]
"""Evaluators that need a conditional run; with EVERY_BUILT_IN_EVALUATOR they drive the conditional tiny recipe."""


class SurfaceOnly:
    """A run as an evaluator may see it: RunView's members pass through to the real run, any other attribute is
    refused, and written down too, in case an evaluator swallows the AttributeError (``getattr`` with a default)."""

    def __init__(self, run: Trainer):
        vars(self).update(_run=run, _refused=[])

    def __getattr__(self, name: str) -> Any:
        if name in RUN_VIEW:
            return getattr(self._run, name)
        self._refused.append(name)
        raise AttributeError(f"{name!r} is not part of ganlab.RunView")


def trained_run(recipe_path, plugins, out) -> tuple[Trainer, list]:
    """A run trained to its end without evaluators, and the recipe's evaluators, built, for the test to drive."""
    built = build(load_recipe(recipe_path, plugins.registry))
    run = Trainer(dataclasses.replace(built, evaluators=[]), RunDir.create(out, "surface"), plugins, progress=False)
    run.run_dir.write_meta(start_meta(run, plugins))
    run.train()
    return run, [evaluator for _, evaluator in built.evaluators]


def test_the_engine_s_run_is_a_run_view(plugins, write_recipe, tmp_path):
    run = Trainer(build(load_recipe(write_recipe(), plugins.registry)), RunDir(tmp_path), plugins, progress=False)
    assert isinstance(run, RunView)
    assert [name for name in RUN_VIEW if not hasattr(run, name)] == []


def drive_through_the_run_view(run: Trainer, evaluators: list) -> SurfaceOnly:
    """Every evaluator's whole life on the finished ``run``, seen through its RunView alone."""
    view = SurfaceOnly(run)
    for evaluator in evaluators:
        evaluator.on_run_start(view)
        for record in run.run_dir.read_metrics():
            evaluator.on_step_end(view, record)
        evaluator.on_epoch_end(view, run.epoch)
        evaluator.on_run_end(view, "finished")
    return view


def test_every_built_in_evaluator_does_its_work_through_the_run_view_alone(
    plugins, write_recipe, weights_in_env, tmp_path
):
    run, evaluators = trained_run(write_recipe({"evaluators": EVERY_BUILT_IN_EVALUATOR}), plugins, tmp_path / "runs")
    assert drive_through_the_run_view(run, evaluators)._refused == []
    assert {e["metric"] for e in run.run_dir.read_evaluations()} >= {
        "fid",
        "kid",
        "precision",
        "recall",
        "swd",
        "diversity",
        "diversity_real",
    }
    assert all(evaluator.report_sections(run.run_dir) for evaluator in evaluators)


def test_every_built_in_evaluator_works_on_a_conditional_run_through_the_run_view_alone(
    register_plugin, write_recipe, weights_in_env, tmp_path
):
    plugins = register_plugin(labelled_data)
    recipe = write_recipe(
        {**labelled_data.CONDITIONAL, "evaluators": EVERY_BUILT_IN_EVALUATOR + CONDITIONAL_EVALUATORS}
    )
    run, evaluators = trained_run(recipe, plugins, tmp_path / "runs")
    assert drive_through_the_run_view(run, evaluators)._refused == []
    assert {e["metric"] for e in run.run_dir.read_evaluations()} >= {
        "attribute_control",
        "attribute_control_colour",
        "attribute_control_bright",
        "fid",
        "swd",
    }
    assert all(evaluator.report_sections(run.run_dir) for evaluator in evaluators)
