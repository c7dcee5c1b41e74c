"""Init schemes reach weights that live behind a parametrization (spectral norm), not a temporary copy."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganlab import BuildContext
from ganlab.components.inits import NormalConfig, build_dcgan_normal

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"))


def test_dcgan_normal_initialises_the_stored_weight_of_a_spectrally_normalised_layer():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Conv2d(16, 32, 4))
    build_dcgan_normal(NormalConfig(std=0.3), CONTEXT)(nn.Sequential(layer))
    stored = layer.parametrizations.weight.original
    assert stored.std().item() == pytest.approx(0.3, rel=0.05)  # PyTorch's default is about 0.036
    assert torch.count_nonzero(layer.bias) == 0


def test_dcgan_normal_still_initialises_plain_layers():
    torch.manual_seed(0)
    layer = nn.Conv2d(16, 32, 4)
    build_dcgan_normal(NormalConfig(std=0.3), CONTEXT)(layer)
    assert layer.weight.std().item() == pytest.approx(0.3, rel=0.05)
