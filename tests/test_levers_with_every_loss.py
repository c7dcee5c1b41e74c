"""Every lever works with every loss, in unconditional and conditional runs: augmentation and regularizers
are usable whatever the loss decides its discriminator's outputs mean. Tiny runs per loss with DiffAugment
or ADA's steering, a lazy R1, R2 and cosine schedules, and a conditional run (cdcgan with the projection
discriminator) with DiffAugment and R1, through the plugin packages as a user installs them."""

from __future__ import annotations

import math

import ganlab_augment
import ganlab_lsgan
import ganlab_regularizers
import ganlab_sngan
import ganlab_wgan
import pytest

LOSSES = ["bce", "bce-minimax", "wgan-gp", "hinge", "lsgan", "rpgan"]


@pytest.fixture
def every_package(register_plugin):
    for module, name in (
        (ganlab_wgan, "wgan"),
        (ganlab_sngan, "sngan"),
        (ganlab_lsgan, "lsgan"),
        (ganlab_augment, "augment"),
        (ganlab_regularizers, "regularizers"),
    ):
        plugins = register_plugin(module, name)
    return plugins


@pytest.mark.parametrize("augment", ["diffaugment", "ada"])
@pytest.mark.parametrize("loss", LOSSES)
def test_a_run_with_augmentation_regularizers_and_a_schedule_trains_with_the_loss(
    every_package, write_recipe, train_recipe, loss, augment
):
    assert loss in every_package.registry.names("loss")
    run = train_recipe(
        write_recipe(
            {
                "discriminator": {"name": "wgan-critic", "features": 4, "norm": "none"},  # r1 and r2 refuse batch norm
                "loss": {"name": loss},
                "augment": {"name": augment},
                "regularizers": [
                    {"name": "r1", "gamma": 1.0, "interval": 2},
                    {"name": "r2", "gamma": 1.0, "interval": 1},
                ],
                "schedule": {"generator": {"name": "cosine"}, "discriminator": {"name": "cosine"}},
            }
        )
    )
    records = run.read_metrics()
    assert run.read_meta()["status"] == "finished" and len(records) == 8
    assert all(math.isfinite(r[key]) for r in records for key in ("loss_d", "loss_g", "reg_r1", "reg_r2"))
    assert records[-1]["lr_g"] < records[0]["lr_g"]
    if augment == "ada":  # it steers by the raw outputs of D whatever the loss: r_t is measured
        assert len({r["augment_rt"] for r in records}) > 1 and all(0 <= r["augment_p"] < 1 for r in records)


@pytest.mark.parametrize("loss", LOSSES)
def test_a_conditional_run_with_the_levers_trains_with_the_loss(every_package, write_recipe, train_recipe, loss):
    run = train_recipe(
        write_recipe(
            {
                "data": {"attributes": ["glasses", "hair"]},
                "generator": {"name": "cdcgan"},
                "discriminator": {"name": "cdcgan-projection", "norm": "none"},
                "loss": {"name": loss},
                "augment": {"name": "diffaugment"},
                "regularizers": [{"name": "r1", "gamma": 1.0, "interval": 2}],
            }
        )
    )
    records = run.read_metrics()
    assert run.read_meta()["status"] == "finished" and run.read_meta()["label_space"]
    assert all(math.isfinite(r[key]) for r in records for key in ("loss_d", "loss_g", "reg_r1"))
