"""What a plugin author is promised beyond the order of events: what ``run.epoch`` reads, what
``run.discriminate`` and a loss's ``penalty`` get and leave behind, and that an evaluator method ganlab
never calls, or an evaluator that is no Evaluator, is reported instead of ignored."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
import types
from typing import Any

import pytest
import torch
from torch import nn

from ganlab import Evaluator, Loss, hookimpl
from ganlab.common import tomlwrite
from ganlab.components.losses import NonSaturatingBCE
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.lifecycle import run_recipe


@dataclasses.dataclass
class NoConfig:
    pass


class EpochWatcher(Evaluator):
    """Writes down, at every event, what ``run.epoch`` and ``run.epochs_completed`` read."""

    name = "epoch-watcher"

    def __init__(self, seen: list[tuple[Any, ...]]):
        self.seen = seen

    def on_run_start(self, run):
        self.seen.append(("start", run.epoch, run.epochs_completed))

    def on_step_end(self, run, record):
        self.seen.append(("step", record["epoch"], run.epoch, run.epochs_completed))

    def on_epoch_end(self, run, epoch):
        self.seen.append(("epoch_end", epoch, run.epoch, run.epochs_completed))

    def on_run_end(self, run, status):
        self.seen.append(("end", run.epoch, run.epochs_completed))


def plugin_module(name: str, ganlab_register) -> types.ModuleType:
    """A plugin module, as an entry point would load it, whose only attribute is ``ganlab_register``."""
    module = types.ModuleType(name)
    module.ganlab_register = hookimpl(ganlab_register)
    return module


def evaluator_plugin(name: str, make_evaluator) -> types.ModuleType:
    """A plugin registering one evaluator component, ``name``, built by ``make_evaluator()``."""

    def ganlab_register(registry):
        registry.add("evaluator", name, lambda config, context: make_evaluator(), NoConfig, help=name)

    return plugin_module(f"{name}-plugin", ganlab_register)


@pytest.fixture(scope="module")
def stopped_in_epoch_two(tmp_path_factory):
    """Two epochs of 4 steps, stopped by max_steps after step 6, with the epoch watcher and a metric evaluator;
    shared by the tests that only read what it recorded."""
    seen: list[tuple[Any, ...]] = []
    plugins = load_plugins(
        [("epoch-watcher", evaluator_plugin("epoch-watcher", lambda: EpochWatcher(seen)))], entry_points=False
    )
    folder = tmp_path_factory.mktemp("stopped")
    (folder / "recipe.toml").write_text(
        tomlwrite.dumps(
            merge(
                TINY_RECIPE,
                {
                    "train": {"max_steps": 6},
                    "evaluators": [{"name": "epoch-watcher"}, {"name": "diversity", "num_pairs": 5}],
                },
            )
        ),
        "utf-8",
    )
    run = run_recipe(load_recipe(folder / "recipe.toml", plugins.registry), plugins, folder / "runs", progress=False)
    return seen, run


def test_run_epoch_numbers_the_epoch_of_the_latest_step_as_metrics_jsonl_does(stopped_in_epoch_two):
    seen, run = stopped_in_epoch_two
    assert seen[0] == ("start", 1, 0)
    steps = [s for s in seen if s[0] == "step"]
    assert [s[1] for s in steps] == [m["epoch"] for m in run.read_metrics()] == [1, 1, 1, 1, 2, 2]
    assert all(record_epoch == run_epoch for _, record_epoch, run_epoch, _ in steps)
    assert [s[3] for s in steps] == [0, 0, 0, 0, 1, 1]
    assert ("epoch_end", 1, 1, 1) in seen
    assert seen[-1] == ("end", 2, 1), "the run ended in the partial second epoch, one epoch completed"
    assert run.read_meta()["epochs_completed"] == 1


def test_on_epoch_end_never_fires_for_an_epoch_max_steps_cut_short(stopped_in_epoch_two):
    seen, _ = stopped_in_epoch_two
    assert [s[1] for s in seen if s[0] == "epoch_end"] == [1]


def test_metric_evaluators_score_the_generator_a_max_steps_stop_left_once_more(stopped_in_epoch_two):
    _, run = stopped_in_epoch_two
    scores = [(e["step"], e["epoch"]) for e in run.read_evaluations() if e["metric"] == "diversity"]
    assert scores == [(4, 1), (6, 2)], "evaluations.jsonl numbers epochs as metrics.jsonl does"


def test_a_resumed_run_reads_the_epoch_its_checkpoint_ended(
    tmp_path, register_plugin, write_recipe, train_recipe, run_cli
):
    seen: list[tuple[Any, ...]] = []
    register_plugin(evaluator_plugin("epoch-watcher", lambda: EpochWatcher(seen)))
    run = train_recipe(write_recipe({"train": {"epochs": 1}, "evaluators": [{"name": "epoch-watcher"}]}))
    seen.clear()
    result = run_cli("run", "--resume", run.path, "--set", "train.epochs=2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert seen[0] == ("start", 1, 1) and seen[-1] == ("end", 2, 2)
    assert [m["epoch"] for m in run.read_metrics()] == [1] * 4 + [2] * 4


class DropoutCritic(nn.Module):
    """A discriminator that draws random numbers (dropout) and keeps a buffer, as batch norm does."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.linear = nn.Linear(channels * size * size, 1)
        self.dropout = nn.Dropout(0.5)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, images):
        self.calls += 1
        return self.linear(self.dropout(images.flatten(1))).squeeze(1)


class Scorer(Evaluator):
    """Calls ``run.discriminate`` at the first epoch's end and notes what it returned and left behind."""

    name = "scorer"

    def __init__(self, seen: dict[str, Any]):
        self.seen = seen

    def on_epoch_end(self, run, epoch):
        if epoch != 1:
            return
        state, rng = _copy(run.discriminator.state_dict()), torch.get_rng_state()
        scores = run.discriminate(run.real_images(8, seed=0))
        self.seen.update(
            scores=scores,
            state_kept=_same(state, run.discriminator.state_dict()),
            rng_kept=torch.equal(rng, torch.get_rng_state()),
            training=run.discriminator.training,
        )


def _copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in state.items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_discriminate_returns_bce_probabilities_and_leaves_the_discriminator_and_random_numbers_alone(
    register_plugin, write_recipe, train_recipe
):
    seen: dict[str, Any] = {}

    def ganlab_register(registry):
        registry.add(
            "discriminator",
            "dropout-critic",
            lambda config, context: DropoutCritic(context.channels, context.image_size),
            NoConfig,
        )
        registry.add("evaluator", "scorer", lambda config, context: Scorer(seen), NoConfig)

    register_plugin(plugin_module("scoring", ganlab_register))
    train_recipe(write_recipe({"discriminator": {"name": "dropout-critic"}, "evaluators": [{"name": "scorer"}]}))
    scores = seen["scores"]
    assert scores.dtype == torch.float32 and scores.shape == (8,) and scores.device.type == "cpu"
    assert not scores.requires_grad and bool(((scores > 0) & (scores < 1)).all())
    assert seen["state_kept"] and seen["rng_kept"] and seen["training"]


class PenaltyWitness(Loss):
    """The BCE loss with a zero penalty that notes what the engine passes it."""

    def __init__(self, calls: list[dict[str, Any]]):
        self.calls = calls
        self.bce = NonSaturatingBCE()

    def discriminator_loss(self, real_logits, fake_logits):
        return self.bce.discriminator_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits, real_logits=None):
        return self.bce.generator_loss(fake_logits)

    def penalty(self, discriminator, real, fake):
        self.calls.append(
            {
                "dtypes": (real.dtype, fake.dtype),
                "grads": (real.requires_grad, fake.requires_grad),
                "range": (min(real.min(), fake.min()).item(), max(real.max(), fake.max()).item()),
                "shapes": (tuple(real.shape), tuple(fake.shape)),
                "training": discriminator.training,
                "autocast": torch.is_autocast_enabled("cpu"),
            }
        )
        return real.new_zeros(())


def test_a_loss_penalty_gets_each_d_update_s_batches_in_fp32_without_gradients(
    register_plugin, write_recipe, train_recipe
):
    calls: list[dict[str, Any]] = []

    def ganlab_register(registry):
        registry.add("loss", "witness", lambda config, context: PenaltyWitness(calls), NoConfig)

    register_plugin(plugin_module("witness", ganlab_register))
    train_recipe(
        write_recipe(
            {"loss": {"name": "witness"}, "train": {"epochs": 1, "d_steps": 2, "batch_size": 8, "precision": "bf16"}}
        )
    )
    assert len(calls) == 8, "4 steps of 2 discriminator updates each"
    for call in calls:
        assert call["dtypes"] == (torch.float32, torch.float32) and call["grads"] == (False, False)
        assert call["shapes"] == ((8, 3, 16, 16), (8, 3, 16, 16))
        assert -1.0 <= call["range"][0] and call["range"][1] <= 1.0
        assert call["training"] and not call["autocast"]


MISSPELT_PLUGIN = textwrap.dedent('''
    import dataclasses

    from ganlab import Evaluator, hookimpl


    @dataclasses.dataclass
    class NoConfig:
        pass


    class MisspeltEvaluator(Evaluator):
        name = "misspelt"

        def on_step_ned(self, run, record):
            pass

        def report_section(self, run_dir):
            return []

        def measure(self, run):
            """A helper of the evaluator's own: not reported."""

        def _on_private(self):
            pass


    @hookimpl
    def ganlab_register(registry):
        registry.add("evaluator", "misspelt", lambda config, context: MisspeltEvaluator(), NoConfig)
''')


@pytest.fixture
def misspelt_plugin(register_plugin, monkeypatch):
    """The plugin module ``ganlab_misspelt`` as its author wrote it, registered as if installed."""
    module = types.ModuleType("ganlab_misspelt")
    monkeypatch.setitem(sys.modules, "ganlab_misspelt", module)  # dataclasses look their module up
    exec(compile(MISSPELT_PLUGIN, "ganlab_misspelt.py", "exec"), module.__dict__)
    register_plugin(module)


def test_a_misspelt_evaluator_method_is_reported_by_class_method_and_close_match(misspelt_plugin, run_cli):
    result = run_cli("plugins")
    assert result.exit_code == 0 and "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("ganlab: warning:")]
    [step_ned] = [w for w in warnings if "on_step_ned" in w]
    assert "MisspeltEvaluator" in step_ned and "never calls" in step_ned and "on_step_end" in step_ned
    [section] = [w for w in warnings if "report_section()" in w]
    assert "(did you mean 'report_sections'?)" in section
    assert not any("measure" in w or "_on_private" in w for w in warnings)
    assert "WARNING: evaluator class" in result.stdout, "`ganlab plugins` lists it under the plugin"


def test_a_misspelt_evaluator_method_does_not_stop_the_plugin_or_the_run(
    misspelt_plugin, write_recipe, run_cli, tmp_path
):
    result = run_cli("run", write_recipe({"evaluators": [{"name": "misspelt"}]}), "--out", tmp_path, "--no-progress")
    assert result.exit_code == 0 and "on_step_ned" in result.stderr


def test_a_misspelt_evaluator_method_is_an_error_in_strict_mode(misspelt_plugin, run_cli, monkeypatch):
    monkeypatch.setenv("GANLAB_STRICT_PLUGINS", "1")
    result = run_cli("plugins")
    assert result.exit_code == 4 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "on_step_ned" in result.stderr and "GANLAB_STRICT_PLUGINS" in result.stderr


class LooksLikeAnEvaluator:
    """Has some of the events but is no Evaluator: the engine would fail when it calls a missing one."""

    def on_step_end(self, run, record):
        pass


def test_an_evaluator_that_is_no_evaluator_is_refused_before_training(register_plugin, write_recipe, run_cli):
    register_plugin(evaluator_plugin("look-alike", LooksLikeAnEvaluator))
    result = run_cli("validate", write_recipe({"evaluators": [{"name": "look-alike"}]}))
    assert result.exit_code == 4 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "evaluators[0]" in result.stderr and "LooksLikeAnEvaluator" in result.stderr and "Evaluator" in result.stderr


OLD_PENALTY_PLUGIN = textwrap.dedent('''
    import torch

    from ganlab import Loss


    class GapWithOldPenalty(Loss):
        def discriminator_loss(self, real_logits, fake_logits):
            return (fake_logits - real_logits).mean()

        def generator_loss(self, fake_logits, real_logits=None):
            return -fake_logits.mean()

        def discriminator_penalty(self, discriminator, real, fake):
            return torch.zeros(())

        def penalty_weight(self):
            """A helper of the loss's own: not reported."""
''')


def test_a_loss_method_under_its_0_2_name_is_reported_with_its_new_name(register_plugin, monkeypatch, run_cli):
    module = types.ModuleType("ganlab_old_penalty")
    monkeypatch.setitem(sys.modules, "ganlab_old_penalty", module)
    exec(compile(OLD_PENALTY_PLUGIN, "ganlab_old_penalty.py", "exec"), module.__dict__)
    register_plugin(module)
    warnings = [line for line in run_cli("plugins").stderr.splitlines() if line.startswith("ganlab: warning:")]
    [old_name] = warnings
    assert "loss class ganlab_old_penalty.GapWithOldPenalty defines discriminator_penalty()" in old_name
    assert "since ganlab 0.3 it is called 'penalty'" in old_name
