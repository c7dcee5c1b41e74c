"""SNGAN: every layer's largest singular value is brought to 1, the hinge loss, a quickstart run."""

from __future__ import annotations

from pathlib import Path

import ganlab_sngan
import pytest
import torch
from ganlab_sngan.discriminator import SNDiscriminatorConfig, build_sn_discriminator
from ganlab_sngan.hinge import Hinge
from torch import nn
from torch.nn.utils import parametrize

from ganlab import BuildContext
from ganlab.testing import SHRINK

QUICKSTART = Path(__file__).parents[3] / "experiments" / "sngan_quickstart.toml"
CONTEXT = BuildContext(seed=0, device=torch.device("cpu"), image_size=32, channels=3)


def largest_singular_value(weight: torch.Tensor) -> float:
    """Of the weight reshaped to (out, in * k * k), the matrix spectral normalisation divides by."""
    return torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2).item()


def convolutions(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if isinstance(m, nn.Conv2d)]


def test_every_layer_is_spectrally_normalised_and_there_is_no_batch_norm():
    network = build_sn_discriminator(SNDiscriminatorConfig(features=4), CONTEXT)
    assert len(convolutions(network)) == 4
    assert all(parametrize.is_parametrized(conv, "weight") for conv in convolutions(network))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())
    assert network(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_largest_singular_value_is_one_after_the_power_iterations(plugins):
    torch.manual_seed(0)
    network = build_sn_discriminator(SNDiscriminatorConfig(features=4), CONTEXT)
    init = plugins.registry.get("init", "dcgan-normal")
    init.factory(init.config(std=0.5), CONTEXT)(network)
    raw = [largest_singular_value(c.parametrizations.weight.original) for c in convolutions(network)]
    assert all(abs(s - 1) > 0.5 for s in raw)  # far from 1 before normalising
    network.train()
    with torch.no_grad():
        for _ in range(30):  # one power iteration per pass
            network(torch.randn(2, 3, 32, 32))
    for conv in convolutions(network):
        assert largest_singular_value(conv.weight) == pytest.approx(1.0, abs=1e-2)


def test_hinge_loss_matches_its_formula_on_known_logits():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 3.0])
    # D: mean(relu(1 - real)) + mean(relu(1 + fake)) = mean(0, 0.5, 2) + mean(0, 1, 4)
    assert Hinge().discriminator_loss(real, fake).item() == pytest.approx(2.5 / 3 + 5 / 3)
    # G: -mean(fake)
    assert Hinge().generator_loss(fake).item() == pytest.approx(-1 / 3)


def test_quickstart_recipe_trains_end_to_end(register_plugin, train_recipe):
    register_plugin(ganlab_sngan)
    run = train_recipe(QUICKSTART, *SHRINK)
    assert (run.read_meta()["status"], len(run.read_metrics())) == ("finished", 10)
    state = torch.load(run.checkpoints()[-1], weights_only=True)["discriminator"]
    assert any(key.endswith("parametrizations.weight.original") for key in state)
