"""LSGAN: the least-squares losses on known outputs, target validation, a quickstart run."""

from __future__ import annotations

from pathlib import Path

import ganlab_lsgan
import pytest
import torch
from ganlab_lsgan import LeastSquares

from ganlab.testing import SHRINK

QUICKSTART = Path(__file__).parents[3] / "experiments" / "lsgan_quickstart.toml"


def test_default_targets_match_the_formula_on_known_outputs():
    real, fake = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, -1.0])
    loss = LeastSquares()
    # D: 1/2 mean((real - 1)^2) + 1/2 mean((fake - 0)^2) = 1/2 (2/3) + 1/2 (2/3)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(2 / 3)
    # G: 1/2 mean((fake - 1)^2) = 1/2 (1 + 0 + 4) / 3
    assert loss.generator_loss(fake).item() == pytest.approx(5 / 6)


def test_the_paper_s_symmetric_targets_are_honoured():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 1.0])
    loss = LeastSquares(fake_target=-1.0, real_target=1.0, generator_target=0.0)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(0.5 * (4 / 2) + 0.5 * (4 / 2))
    assert loss.generator_loss(fake).item() == pytest.approx(0.5 * (1 + 1) / 2)


def test_equal_real_and_fake_targets_are_a_recipe_error(register_plugin, write_recipe, run_cli):
    register_plugin(ganlab_lsgan)
    recipe = write_recipe({"loss": {"name": "lsgan", "fake_target": 1.0, "real_target": 1.0}})
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert "loss: fake_target and real_target must differ" in result.output


def test_quickstart_recipe_trains_end_to_end(register_plugin, train_recipe):
    register_plugin(ganlab_lsgan)
    run = train_recipe(QUICKSTART, *SHRINK)
    assert run.read_meta()["status"] == "finished"
    assert len(run.read_metrics()) == 10
    assert run.samples() and run.checkpoints()
