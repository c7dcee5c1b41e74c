"""rpgan: the relativistic pairing losses on known scores, and the generator's loss uses both scores."""

from __future__ import annotations

import math

import ganlab_regularizers
import pytest
import torch
from ganlab_regularizers import RelativisticPairing


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


REAL, FAKE = [2.0, 0.5, -1.0], [-1.0, 0.5, 1.0]


def test_discriminator_loss_is_softplus_of_minus_the_real_minus_fake_gap_pair_by_pair():
    loss = RelativisticPairing().discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE))
    assert loss.item() == pytest.approx(sum(softplus(-(r - f)) for r, f in zip(REAL, FAKE)) / 3)


def test_generator_loss_is_softplus_of_minus_the_fake_minus_real_gap_pair_by_pair():
    loss = RelativisticPairing().generator_loss(torch.tensor(FAKE), torch.tensor(REAL))
    assert loss.item() == pytest.approx(sum(softplus(-(f - r)) for r, f in zip(REAL, FAKE)) / 3)


def test_a_margin_pushes_the_real_scores_further_above_the_generated_ones():
    loss = RelativisticPairing(margin=0.5).discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE))
    assert loss.item() == pytest.approx(sum(softplus(f - r + 0.5) for r, f in zip(REAL, FAKE)) / 3)


def test_the_generator_loss_asks_for_real_scores_and_moves_with_both():
    assert RelativisticPairing.generator_needs_real
    fake, real = torch.tensor(FAKE, requires_grad=True), torch.tensor(REAL, requires_grad=True)
    RelativisticPairing().generator_loss(fake, real).backward()
    assert (fake.grad < 0).all() and (real.grad > 0).all()  # raise D(G(z)), relative to D(x)
    assert torch.allclose(fake.grad, -real.grad)  # only the gap counts


def test_shifting_every_score_alike_changes_neither_loss():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    loss = RelativisticPairing()
    assert loss.discriminator_loss(real + 7, fake + 7).item() == pytest.approx(
        loss.discriminator_loss(real, fake).item()
    )
    assert loss.generator_loss(fake - 3, real - 3).item() == pytest.approx(loss.generator_loss(fake, real).item())


def test_ganlab_lists_the_loss_with_its_margin(register_plugin, run_cli):
    register_plugin(ganlab_regularizers, name="regularizers")
    listed = run_cli("list", "loss").stdout
    assert "rpgan  [regularizers]" in listed and "margin: float = 0.0" in listed
