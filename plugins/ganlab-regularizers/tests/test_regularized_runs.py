"""r1, r2 and rpgan in real runs: the engine adds interval * term on the due steps only, the recipes
train, and a resumed run is bit for bit the uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import ganlab_regularizers
import ganlab_wgan
import pytest
from ganlab_regularizers import R1

from ganlab.testing import SHRINK

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
NO_BATCH_NORM = {"discriminator": {"name": "wgan-critic", "features": 4, "norm": "none"}}


@pytest.fixture
def registered(register_plugin):
    register_plugin(ganlab_wgan, name="wgan")
    return register_plugin(ganlab_regularizers, name="regularizers")


def column(run, key: str) -> list[float]:
    return [record[key] for record in run.read_metrics()]


def test_the_term_is_computed_on_due_steps_only_and_logged_until_the_next(
    registered, write_recipe, train_recipe, monkeypatch
):
    calls = []
    term = R1.term
    monkeypatch.setattr(R1, "term", lambda self, inputs: calls.append(1) or term(self, inputs))
    run = train_recipe(write_recipe({**NO_BATCH_NORM, "regularizers": [{"name": "r1", "gamma": 1.0, "interval": 3}]}))
    assert len(calls) == 3  # steps 0, 3 and 6 of 8
    logged = column(run, "reg_r1")
    assert logged[0] > 0 and logged[0] == logged[1] == logged[2] != logged[3] == logged[4] == logged[5]


@pytest.mark.parametrize("interval", [1, 4])
def test_a_due_step_adds_interval_times_the_term_to_the_discriminator_s_loss(
    registered, write_recipe, train_recipe, interval
):
    plain = train_recipe(write_recipe(NO_BATCH_NORM, name="plain.toml"))
    regularized = train_recipe(
        write_recipe({**NO_BATCH_NORM, "regularizers": [{"name": "r1", "gamma": 1e5, "interval": interval}]})
    )
    # the first step is due and starts from the same weights, batches and latents as the plain run's
    first, first_plain = regularized.read_metrics()[0], plain.read_metrics()[0]
    assert first["reg_r1"] > 0.1
    assert first["loss_d"] - first_plain["loss_d"] == pytest.approx(interval * first["reg_r1"], rel=1e-4)


@pytest.mark.parametrize("recipe", ["r1_quickstart.toml", "r3gan_quickstart.toml"])
def test_the_quickstart_recipes_train_end_to_end(registered, train_recipe, recipe):
    run = train_recipe(EXPERIMENTS / recipe, *SHRINK)
    assert run.read_meta()["status"] == "finished"
    assert len(run.read_metrics()) == 10 and run.samples() and run.checkpoints()


def test_a_resumed_r3gan_run_is_bit_for_bit_the_uninterrupted_one(registered, write_recipe, train_recipe, run_cli):
    r3gan = {
        **NO_BATCH_NORM,
        "loss": {"name": "rpgan"},
        "regularizers": [{"name": "r1", "gamma": 0.5, "interval": 2}, {"name": "r2", "gamma": 0.5, "interval": 3}],
    }
    uninterrupted = train_recipe(write_recipe(r3gan, name="whole.toml"))
    first_half = train_recipe(write_recipe(r3gan, name="half.toml"), "train.epochs=1")
    result = run_cli("run", "--resume", first_half.path, "--set", "train.epochs=2", "--no-progress")
    assert result.exit_code == 0, result.output

    def without_time(run):
        return [{k: v for k, v in record.items() if k != "time"} for record in run.read_metrics()]

    assert without_time(first_half) == without_time(uninterrupted)
    assert len(without_time(uninterrupted)) == 8


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_a_discriminator_with_batch_norm_is_refused_before_training(registered, write_recipe, run_cli, name):
    result = run_cli("validate", write_recipe({"regularizers": [{"name": name}]}))
    assert result.exit_code == 2
    assert "discriminator: uses batch norm (BatchNorm2d)" in result.output and name in result.output


def test_a_conditional_discriminator_is_penalised_with_each_image_s_labels(
    registered, write_recipe, train_recipe, monkeypatch
):
    seen = []
    term = R1.term
    monkeypatch.setattr(R1, "term", lambda self, inputs: seen.append(inputs.real_labels) or term(self, inputs))
    run = train_recipe(
        write_recipe(
            {
                "data": {"attributes": ["glasses", "hair"]},
                "generator": {"name": "cdcgan"},
                "discriminator": {"name": "cdcgan-projection", "norm": "none"},
                "regularizers": [
                    {"name": "r1", "gamma": 1.0, "interval": 1},
                    {"name": "r2", "gamma": 1.0, "interval": 1},
                ],
            }
        )
    )
    assert run.read_meta()["status"] == "finished"
    assert all(labels is not None and labels.shape[1] == 2 for labels in seen)
    assert all(record["reg_r1"] > 0 and record["reg_r2"] > 0 for record in run.read_metrics())
