"""Every plugin hook and evaluator event: when it is called, with what, and what it may return.

The documentation states these rules (docs/plugins/hooks.md, docs/plugins/evaluators.md);
tests/test_plugin_docs.py checks that each plugin hook has a ``test_hook_<name>`` here, and each evaluator
event a ``test_evaluator_<name>``.
"""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import Any

import ganlab_wgan
import pytest
import torch

from ganlab import Evaluator, ReportSection, hookimpl
from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.lifecycle import run_recipe


@dataclasses.dataclass
class RecorderConfig:
    fail_at_step: int = 0


class Recorder(Evaluator):
    """Writes down every event it hears, and a summary file its report section is built from."""

    name = "recorder"

    def __init__(self, config: RecorderConfig):
        self.config = config
        self.events: list[tuple[Any, ...]] = []
        self.steps_seen = 0
        self.restored: dict[str, Any] | None = None

    def on_run_start(self, run):
        self.events.append(("on_run_start", run.step, run.epoch))

    def on_step_end(self, run, record):
        self.events.append(("on_step_end", dict(record)))
        self.steps_seen += 1
        if record["step"] == self.config.fail_at_step:
            raise RuntimeError("recorder gave up")

    def on_epoch_end(self, run, epoch):
        self.events.append(("on_epoch_end", epoch, [p.name for p in run.run_dir.checkpoints()]))

    def on_run_end(self, run, status):
        self.events.append(("on_run_end", status))
        summary = {"status": status, "steps": run.step, "events": len(self.events)}
        (run.run_dir.evaluator_dir(self.name) / "summary.json").write_text(json.dumps(summary))

    def state_dict(self):
        return {"steps_seen": self.steps_seen}

    def load_state_dict(self, state):
        self.restored = dict(state)
        self.steps_seen = state["steps_seen"]

    def report_sections(self, run_dir):
        summary = json.loads((run_dir.evaluator_dir(self.name) / "summary.json").read_text())
        return [ReportSection("Recorder <events>", f"<p>{html.escape(json.dumps(summary))}</p>", order=50)]


class RecorderPlugin:
    def __init__(self):
        self.evaluators: list[Recorder] = []
        self.registries: list[Any] = []

    @hookimpl
    def ganlab_register(self, registry):
        self.registries.append(registry)
        registry.add("evaluator", "recorder", self.build, RecorderConfig, help="records run events")

    def build(self, config, context):
        self.evaluators.append(Recorder(config))
        return self.evaluators[-1]


def train(folder: Path, **recorder: Any) -> tuple[Recorder, RunDir | None]:
    plugin = RecorderPlugin()
    plugins = load_plugins([("recorder-plugin", plugin)], entry_points=False)
    path = folder / "recipe.toml"
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": [{"name": "recorder", **recorder}]})))
    recipe = load_recipe(path, plugins.registry)
    try:
        run_dir = run_recipe(recipe, plugins, folder / "runs", progress=False)
    except RuntimeError:
        run_dir = None
    return plugin.evaluators[0], run_dir  # the one that trained; the report builds its own later


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[list[tuple[Any, ...]], RunDir]:
    """One tiny run (2 epochs of 4 steps) shared by the tests that only read what it recorded."""
    recorder, run_dir = train(tmp_path_factory.mktemp("finished"))
    return recorder.events, run_dir


def test_hook_ganlab_register_gets_a_registry_bound_to_the_plugin():
    plugin = RecorderPlugin()
    plugins = load_plugins([("recorder-plugin", plugin)], entry_points=False)
    assert len(plugin.registries) == 1
    assert plugin.registries[0].plugin == "recorder-plugin"
    assert plugins.registry.get("evaluator", "recorder").plugin == "recorder-plugin"


def test_evaluator_on_run_start_comes_once_before_the_first_step(finished):
    events, _ = finished
    assert [e[0] for e in events].count("on_run_start") == 1
    assert events[0] == ("on_run_start", 0, 1), "step 0, in epoch 1"


def test_evaluator_on_step_end_comes_after_every_generator_update_with_its_numbers(finished):
    events, run_dir = finished
    records = [e[1] for e in events if e[0] == "on_step_end"]
    assert [r["step"] for r in records] == list(range(1, 9))  # 4 steps per epoch, 2 epochs
    assert set(records[0]) == {"step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "time"}
    assert records == run_dir.read_metrics()


def test_evaluator_on_epoch_end_comes_before_the_epoch_s_checkpoint_so_it_holds_the_evaluations(finished):
    events, _ = finished
    epochs = [e[1:] for e in events if e[0] == "on_epoch_end"]
    assert epochs == [(1, []), (2, ["epoch_0001.pt"])]
    steps_before_first = [
        e[1]["step"] for e in events[: events.index(("on_epoch_end", *epochs[0]))] if e[0] == "on_step_end"
    ]
    assert steps_before_first == [1, 2, 3, 4]


def test_evaluator_on_run_end_comes_last_with_the_status(finished):
    events, run_dir = finished
    assert events[-1] == ("on_run_end", "finished")
    assert json.loads((run_dir.evaluator_dir("recorder") / "summary.json").read_text())["status"] == "finished"


def test_evaluator_on_run_end_also_comes_when_the_run_fails(tmp_path):
    recorder, _ = train(tmp_path, fail_at_step=2)
    assert recorder.events[-1] == ("on_run_end", "failed")
    run_dir = RunDir(next((tmp_path / "runs").iterdir()))
    assert "recorder gave up" in run_dir.read_meta()["error"]


def test_evaluator_report_sections_are_rebuilt_from_the_run_directory_alone(finished):
    _, run_dir = finished
    fresh = Recorder(RecorderConfig())  # a new process: nothing in memory
    [section] = fresh.report_sections(RunDir.open(run_dir.path))
    assert section.title == "Recorder <events>" and section.order == 50
    assert "&quot;status&quot;: &quot;finished&quot;" in section.html


def test_evaluator_state_dict_is_saved_in_every_checkpoint(finished):
    _, run_dir = finished
    from ganlab.rundir.checkpoints import load_checkpoint

    states = [load_checkpoint(p)["evaluators"]["evaluators[0]"] for p in run_dir.checkpoints()]
    assert states == [{"steps_seen": 4}, {"steps_seen": 8}]


def test_evaluator_load_state_dict_gets_the_checkpoint_s_state_back_on_resume(tmp_path):
    from ganlab.training.resume import resume_run

    plugin = RecorderPlugin()
    plugins = load_plugins([("recorder-plugin", plugin)], entry_points=False)
    path = tmp_path / "recipe.toml"
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": [{"name": "recorder"}], "train": {"epochs": 1}})))
    run_dir = run_recipe(load_recipe(path, plugins.registry), plugins, tmp_path / "runs", progress=False)
    resume_run(run_dir.path, plugins, ["train.epochs=2"], progress=False)
    [resumed] = [evaluator for evaluator in plugin.evaluators if evaluator.restored is not None]
    assert resumed.restored == {"steps_seen": 4} and resumed.steps_seen == 8


@dataclasses.dataclass
class DrawsConfig:
    pass


class DrawsRandomNumbers(Evaluator):
    """An evaluator that draws from torch's global generator at every event, as an Inception pass does."""

    name = "draws"

    def on_step_end(self, run, record):
        torch.rand(100)

    def on_epoch_end(self, run, epoch):
        torch.rand(100)


class DrawsPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add(
            "evaluator", "draws", lambda config, context: DrawsRandomNumbers(), DrawsConfig, help="draws random numbers"
        )


def wgan_gp_losses(folder: Path, evaluators: list[dict]) -> list[tuple[float, float]]:
    """The per-step losses of the tiny recipe with WGAN-GP, whose penalty draws from torch's global generator."""
    plugins = load_plugins([("wgan", ganlab_wgan), ("draws-plugin", DrawsPlugin())], entry_points=False)
    folder.mkdir()
    path = folder / "recipe.toml"
    path.write_text(
        tomlwrite.dumps(
            merge(
                TINY_RECIPE,
                {
                    "discriminator": {"name": "wgan-critic", "features": 4},
                    "loss": {"name": "wgan-gp"},
                    "evaluators": evaluators,
                },
            )
        )
    )
    run_dir = run_recipe(load_recipe(path, plugins.registry), plugins, folder / "runs", progress=False)
    return [(m["loss_d"], m["loss_g"]) for m in run_dir.read_metrics()]


def test_random_numbers_an_evaluator_draws_do_not_change_training(tmp_path):
    quiet = wgan_gp_losses(tmp_path / "quiet", evaluators=[])
    drawing = wgan_gp_losses(tmp_path / "drawing", evaluators=[{"name": "draws"}])
    assert len(quiet) == 8 and drawing == quiet
