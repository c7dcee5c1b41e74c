"""The levers in a real run: the augmentation sees every image D sees, a regularizer's term enters its
network's loss scaled by its interval on exactly the steps it is due, a failing logger costs a warning and
not the run, a plugin's lever of the wrong class is refused before training, and a loss's penalty sees the
discriminator as a regularizer does."""

from __future__ import annotations

import pytest
import torch
from lever_plugins import LeverPlugin, NoConfig, RecordingLogger
from resume_helpers import RunningMeanPlugin

from ganlab import Augment, Loss, Regularizer, hookimpl
from ganlab.common.errors import PluginError
from ganlab.components.losses import NonSaturatingBCE
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import resolve
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.assemble import build
from ganlab.training.lifecycle import run_recipe


@pytest.fixture
def levers():
    plugin = LeverPlugin()
    return plugin, load_plugins([("levers", plugin)], entry_points=False)


def train(plugins, tmp_path, **sections) -> RunDir:
    recipe = resolve(merge(TINY_RECIPE, sections), plugins.registry, "tiny.toml")
    return run_recipe(recipe, plugins, tmp_path, progress=False)


def test_the_augmentation_sees_every_real_and_generated_batch_of_both_phases(levers, tmp_path):
    plugin, plugins = levers
    train(plugins, tmp_path, augment={"name": "noise"}, train={"d_steps": 2, "epochs": 1})
    augment = plugin.built["noise"]
    steps = 64 // 16 // 2
    # per step: a real and a fake batch for each of the 2 D updates, then the fake batch of G's update
    assert augment.calls == [(16, 3, 16, 16)] * (5 * steps)
    assert augment.observed == 2 * steps


def test_the_augmentations_numbers_are_logged_every_step(levers, tmp_path):
    run = train(levers[1], tmp_path, augment={"name": "noise"})
    records = run.read_metrics()
    assert [list(r)[:6] for r in records[:1]] == [["step", "epoch", "loss_d", "loss_g", "d_real", "d_fake"]]
    strengths = [r["augment_strength"] for r in records]
    assert len(strengths) == 8 and all(-1.0 <= s <= 1.0 for s in strengths) and strengths[-1] != 0.0


def test_a_regularizer_adds_interval_times_its_term_to_the_loss_on_due_steps_only(levers, tmp_path):
    plugin, plugins = levers
    plain = train(plugins, tmp_path / "plain").read_metrics()
    regularized = train(
        plugins, tmp_path / "regularized", regularizers=[{"name": "constant", "value": 0.5, "interval": 3}]
    ).read_metrics()
    added = [r["loss_d"] - p["loss_d"] for r, p in zip(regularized, plain)]
    # steps are logged from 1; the regularizer is due on step indices 0, 3, 6 (records 1, 4, 7)
    assert added == pytest.approx([1.5, 0, 0, 1.5, 0, 0, 1.5, 0], abs=1e-5)
    assert [r["loss_g"] for r in regularized] == [p["loss_g"] for p in plain]
    assert [r["reg_constant"] for r in regularized] == [0.5] * 8


def test_a_generator_regularizer_enters_the_generators_loss(levers, tmp_path):
    plugin, plugins = levers
    plain = train(plugins, tmp_path / "plain").read_metrics()
    regularized = train(
        plugins,
        tmp_path / "regularized",
        regularizers=[{"name": "constant", "value": 2.0, "interval": 2, "applies_to": "generator"}],
    ).read_metrics()
    added = [r["loss_g"] - p["loss_g"] for r, p in zip(regularized, plain)]
    assert added == pytest.approx([4.0, 0, 4.0, 0, 4.0, 0, 4.0, 0], abs=1e-5)
    assert [r["loss_d"] for r in regularized] == [p["loss_d"] for p in plain]


def test_two_regularizers_of_one_name_log_under_columns_of_their_own(levers, tmp_path):
    run = train(
        levers[1], tmp_path, regularizers=[{"name": "constant", "value": 1.0}, {"name": "constant", "value": 2.0}]
    )
    last = run.read_metrics()[-1]
    assert (last["reg_constant_0"], last["reg_constant_1"]) == (1.0, 2.0)


def test_a_gradient_penalty_through_discriminate_trains_and_is_logged(levers, tmp_path):
    run = train(
        levers[1],
        tmp_path,
        augment={"name": "noise"},
        regularizers=[{"name": "grad-real", "gamma": 10.0, "interval": 4}],
    )
    records = run.read_metrics()
    assert run.read_meta()["status"] == "finished"
    assert all(r["reg_grad-real"] > 0 for r in records)
    assert records[0]["reg_grad-real"] == records[3]["reg_grad-real"] != records[4]["reg_grad-real"]


def test_the_learning_rates_are_logged_every_step(levers, tmp_path):
    run = train(levers[1], tmp_path)
    assert {(r["lr_g"], r["lr_d"]) for r in run.read_metrics()} == {(2e-4, 2e-4)}


def test_a_logger_receives_steps_evaluations_grids_and_the_end(levers, tmp_path):
    RecordingLogger.calls.clear()
    plugins = load_plugins([("levers", LeverPlugin()), ("running-mean", RunningMeanPlugin())], entry_points=False)
    run = train(plugins, tmp_path, loggers=[{"name": "recording"}], evaluators=[{"name": "running-mean"}])
    calls = RecordingLogger.calls
    assert calls[0] == ("start", 0) and calls[-1] == ("finish", "finished")
    logged = [record for call in calls if call[0] == "log_steps" for record in call[1]]
    assert logged == run.read_metrics()
    images = [c for c in calls if c[0] == "log_image"]
    assert [(tag, step) for _, tag, _, _, step in images] == [("samples", 4), ("samples", 8)]
    assert all(dtype == torch.uint8 and len(shape) == 3 for _, _, shape, dtype, _ in images)
    evaluations = [call[1] for call in calls if call[0] == "log_evaluation"]
    assert evaluations == run.read_evaluations() and evaluations


def test_a_failing_logger_is_warned_about_once_and_the_run_finishes(levers, tmp_path, capsys):
    RecordingLogger.calls.clear()
    run = train(levers[1], tmp_path, loggers=[{"name": "raising"}, {"name": "recording"}])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "ganlab: warning:" in line]
    assert warnings == [
        "ganlab: warning: logger loggers[0] (raising) failed in log_steps: OSError: the disk of "
        "the dashboard is full; the run goes on without it"
    ]
    assert run.read_meta()["status"] == "finished" and len(run.read_metrics()) == 8
    assert RecordingLogger.calls[-1] == ("finish", "finished")


def test_a_lever_factory_returning_the_wrong_class_is_refused_before_training(tmp_path):
    class WrongPlugin:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add(
                "augment", "not-an-augment", lambda config, context: lambda images: images, NoConfig, help="wrong"
            )

    plugins = load_plugins([("wrong", WrongPlugin())], entry_points=False)
    recipe = resolve(merge(TINY_RECIPE, {"augment": {"name": "not-an-augment"}}), plugins.registry, "tiny.toml")
    with pytest.raises(
        PluginError,
        match=r"tiny.toml: augment: augment 'not-an-augment' of plugin 'wrong' was "
        r"built as a function, which is not a ganlab.Augment",
    ):
        build(recipe)


class Mirror(Augment):
    """A deterministic augmentation (a horizontal flip), so that two calls on one batch see one image."""

    def __call__(self, images):
        return images.flip(3)


class PenaltyWitness(Loss):
    """BCE with a zero penalty that keeps what its ``discriminator`` makes of the real batch."""

    def __init__(self, seen):
        self.seen = seen
        self.bce = NonSaturatingBCE()

    def discriminator_loss(self, real_logits, fake_logits):
        return self.bce.discriminator_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits, real_logits=None):
        return self.bce.generator_loss(fake_logits)

    def penalty(self, discriminator, real, fake):
        self.seen.append(("penalty", discriminator(real).detach()))
        return real.new_zeros(())


class RegularizerWitness(Regularizer):
    """A zero term that keeps what ``inputs.discriminate`` makes of the real batch, augmented and not."""

    def __init__(self, seen):
        self.seen = seen

    def term(self, inputs):
        self.seen.append(("regularizer", inputs.discriminate(inputs.real, inputs.real_labels).detach()))
        self.seen.append(("unaugmented", inputs.discriminate(inputs.real, inputs.real_labels, augment=False).detach()))
        return inputs.real.sum() * 0.0


def test_a_loss_penalty_and_a_regularizer_see_the_discriminator_alike(tmp_path):
    seen: list[tuple[str, torch.Tensor]] = []

    class WitnessPlugin:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add("augment", "mirror", lambda config, context: Mirror(), NoConfig, help="flip")
            registry.add(
                "loss",
                "penalty-witness",
                lambda config, context: PenaltyWitness(seen),
                NoConfig,
                help="BCE with a witness penalty",
            )
            registry.add(
                "regularizer",
                "witness",
                lambda config, context: RegularizerWitness(seen),
                NoConfig,
                help="a witness term",
            )

    plugins = load_plugins([("witness", WitnessPlugin())], entry_points=False)
    train(
        plugins,
        tmp_path,
        augment={"name": "mirror"},
        loss={"name": "penalty-witness"},
        regularizers=[{"name": "witness"}],
        train={"epochs": 1},
    )
    # per D update, in order: the penalty, then the regularizer (same weights, same real batch)
    assert [what for what, _ in seen] == ["penalty", "regularizer", "unaugmented"] * 4
    for update in range(4):
        penalty, regularizer, unaugmented = (outputs for _, outputs in seen[3 * update : 3 * update + 3])
        assert penalty.dtype == torch.float32 and penalty.shape == (16,)
        assert torch.equal(penalty, regularizer) and not torch.equal(penalty, unaugmented)
