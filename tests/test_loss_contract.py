"""The loss contract: what ganlab.Loss promises, and that the logs, ``run.discriminate``, the figures and
the health check read a loss's scores as the loss describes them, never as a sigmoid they assume."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import ganlab_wgan
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from ganlab_lsgan import LeastSquares
from ganlab_sngan.hinge import Hinge
from ganlab_wgan.loss import WassersteinGP
from torch import nn

from ganlab import PROBABILITY, Loss, ScoreKind, hookimpl
from ganlab.components.losses import MinimaxBCE, NonSaturatingBCE
from ganlab.evaluators.d_distributions import score_range
from ganlab.evaluators.training_health import discriminator_wins_flag

LOGITS = torch.tensor([-40.0, -2.0, 0.0, 3.0, 40.0])


@dataclasses.dataclass
class NoConfig:
    pass


def plugin(name: str, ganlab_register) -> types.ModuleType:
    module = types.ModuleType(name)
    module.ganlab_register = hookimpl(ganlab_register)
    return module


# -- each loss says what its scores are ------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [NonSaturatingBCE(), NonSaturatingBCE(real_label=0.9), MinimaxBCE()],
    ids=["bce", "bce-smoothed", "bce-minimax"],
)
def test_bce_losses_score_probabilities_between_0_and_1(loss):
    scores = loss.scores(LOGITS)
    assert torch.equal(scores, torch.sigmoid(LOGITS)) and bool(((scores >= 0) & (scores <= 1)).all())
    assert (loss.score_kind.low, loss.score_kind.high) == (0.0, 1.0)
    assert loss.score_kind.name == PROBABILITY.name and loss.score_kind.outright_win is not None


@pytest.mark.parametrize("loss", [WassersteinGP(), Hinge(), LeastSquares()], ids=["wgan-gp", "hinge", "lsgan"])
def test_critic_hinge_and_least_squares_losses_score_raw_unbounded_outputs(loss):
    assert torch.equal(loss.scores(LOGITS), LOGITS)
    assert (loss.score_kind.low, loss.score_kind.high) == (None, None)
    assert loss.score_kind.outright_win is None, "their generators keep gradients: no outright win"


def test_the_kinds_name_what_the_scores_are():
    assert WassersteinGP().score_kind.name == "critic score"
    assert Hinge().score_kind.references == (-1.0, 1.0)
    assert LeastSquares(fake_target=-1.0, real_target=1.0).score_kind.references == (-1.0, 1.0)


def test_a_loss_written_with_the_two_losses_only_gets_the_documented_defaults():
    class MeanGap(Loss):
        def discriminator_loss(self, real_logits, fake_logits):
            return fake_logits.mean() - real_logits.mean()

        def generator_loss(self, fake_logits, real_logits=None):
            return -fake_logits.mean()

    loss = MeanGap()
    assert loss.penalty(nn.Linear(1, 1), torch.zeros(2, 1), torch.zeros(2, 1)) is None
    assert loss.check_discriminator(nn.BatchNorm2d(3)) is None
    assert torch.equal(loss.scores(LOGITS), LOGITS) and loss.score_kind.low is None
    assert loss.generator_needs_real is False


def test_a_loss_missing_its_generator_loss_cannot_be_made():
    class HalfDone(Loss):
        def discriminator_loss(self, real_logits, fake_logits):
            return fake_logits.mean() - real_logits.mean()

    with pytest.raises(TypeError, match="generator_loss"):
        HalfDone()


# -- the run directory says what its scores are ----------------------------------------------------------


def test_a_score_kind_survives_meta_json():
    for kind in (PROBABILITY, WassersteinGP().score_kind, LeastSquares(-1.0, 1.0, 0.0).score_kind):
        assert ScoreKind.from_meta({"scores": kind.to_dict()}) == kind


def test_a_run_from_before_score_kinds_logged_probabilities():
    assert ScoreKind.from_meta({"status": "finished"}) == PROBABILITY


def test_probabilities_are_drawn_from_0_to_1_and_critic_scores_where_they_are():
    scores = [[-30.0, 2.0], [12.0, 40.0]]
    assert score_range(PROBABILITY, [[0.2, 0.3]]) == (0.0, 1.0)
    assert score_range(WassersteinGP().score_kind, scores) == (-30.0, 40.0)
    assert score_range(Hinge().score_kind, [[0.2, 0.4]]) == (-1.0, 1.0), "its margins stay in view"


class ConstantCritic(nn.Module):
    """A critic without batch norm whose raw output is 7.5 for every image until it is trained."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.tensor(7.5))

    def forward(self, images):
        return self.bias + self.weight * images.flatten(1).mean(1)


def test_a_wgan_run_logs_the_critics_raw_scores_and_says_so(register_plugin, write_recipe, train_recipe):
    def ganlab_register(registry):
        registry.add("discriminator", "constant-critic", lambda config, context: ConstantCritic(), NoConfig)

    register_plugin(ganlab_wgan)
    register_plugin(plugin("constant", ganlab_register))
    run = train_recipe(
        write_recipe({"discriminator": {"name": "constant-critic"}, "loss": {"name": "wgan-gp"}}), "train.max_steps=1"
    )
    [first] = run.read_metrics()
    assert first["d_real"] == pytest.approx(7.5) and first["d_fake"] == pytest.approx(7.5), (
        "the critic's mean raw output, not its sigmoid (0.9994)"
    )
    assert ScoreKind.from_meta(run.read_meta()) == WassersteinGP().score_kind


# -- training health asks the loss -------------------------------------------------------------------------


def metrics(steps: int, **values: float) -> pd.DataFrame:
    return pd.DataFrame([{"step": s, "epoch": 1, "loss_d": -5.0, **values} for s in range(1, steps + 1)])


def test_large_critic_scores_are_no_outright_win():
    critic = metrics(600, d_real=40.0, d_fake=-30.0, loss_g=30.0)
    assert discriminator_wins_flag(critic, 100, WassersteinGP().score_kind.outright_win) is None
    assert discriminator_wins_flag(critic, 100, PROBABILITY.outright_win) is not None, (
        "read as probabilities, the same numbers would have raised the flag"
    )


def test_a_minimax_discriminator_that_wins_is_flagged_though_its_generator_loss_goes_to_0():
    won = metrics(600, d_real=0.95, d_fake=0.001, loss_g=-0.001)
    flag = discriminator_wins_flag(won, 100, MinimaxBCE().score_kind.outright_win)
    assert flag is not None and flag.check == "discriminator-wins"
    assert discriminator_wins_flag(won, 100, NonSaturatingBCE().score_kind.outright_win) is None


def test_a_critic_run_reports_no_outright_win_to_look_for(register_plugin, write_recipe, train_recipe):
    register_plugin(ganlab_wgan)
    run = train_recipe(
        write_recipe(
            {
                "discriminator": {"name": "wgan-critic", "features": 4},
                "loss": {"name": "wgan-gp"},
                "evaluators": [{"name": "training-health"}],
            }
        ),
        "train.max_steps=2",
    )
    report = run.report_path.read_text("utf-8")
    assert "no outright win to look for" in report and "critic score" in report


# -- the generator loss gets real logits when it asks ----------------------------------------------------


class RelativisticPairing(Loss):
    """RpGAN (Jolicoeur-Martineau 2018): each side's loss is on D(real) - D(fake), so G needs D(real)."""

    generator_needs_real = True

    def __init__(self, seen: list[Any]):
        self.seen = seen

    def discriminator_loss(self, real_logits, fake_logits):
        return F.softplus(fake_logits - real_logits).mean()

    def generator_loss(self, fake_logits, real_logits=None):
        self.seen.append(real_logits)
        return F.softplus(real_logits - fake_logits).mean()


class RealLogitsWitness(NonSaturatingBCE):
    def __init__(self, seen: list[Any]):
        super().__init__()
        object.__setattr__(self, "seen", seen)

    def generator_loss(self, fake_logits, real_logits=None):
        self.seen.append(real_logits)
        return super().generator_loss(fake_logits)


@pytest.mark.parametrize("loss", [RelativisticPairing, RealLogitsWitness], ids=["relativistic", "bce"])
def test_the_generator_loss_gets_real_logits_only_when_it_asks(loss, register_plugin, write_recipe, train_recipe):
    seen: list[Any] = []

    def ganlab_register(registry):
        registry.add("loss", "witness", lambda config, context: loss(seen), NoConfig)

    register_plugin(plugin("witness", ganlab_register))
    run = train_recipe(write_recipe({"loss": {"name": "witness"}}))
    assert run.read_meta()["status"] == "finished" and len(seen) == 8, "2 epochs of 4 steps"
    if loss.generator_needs_real:
        assert all(r.shape == (16,) and r.dtype == torch.float32 and not r.requires_grad for r in seen)
        assert all(torch.isfinite(r).all() for r in seen)
    else:
        assert seen == [None] * 8


# -- a loss that is not a ganlab.Loss ---------------------------------------------------------------------


class LooksLikeALoss:
    """Has the two losses but is no ganlab.Loss: the engine calls penalty, scores and the rest too."""

    def discriminator_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits, real_logits=None):
        return -fake_logits.mean()


def test_a_loss_that_is_no_ganlab_loss_is_refused_before_training(register_plugin, write_recipe, run_cli):
    def ganlab_register(registry):
        registry.add("loss", "look-alike", lambda config, context: LooksLikeALoss(), NoConfig)

    register_plugin(plugin("look-alike", ganlab_register))
    result = run_cli("validate", write_recipe({"loss": {"name": "look-alike"}}))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert "LooksLikeALoss" in result.stderr and "not a ganlab.Loss" in result.stderr
    assert "subclass" in result.stderr
