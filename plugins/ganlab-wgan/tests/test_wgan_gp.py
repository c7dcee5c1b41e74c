"""WGAN-GP: the penalty against a direct computation, the losses on known scores, the critic, a run."""

from __future__ import annotations

import math
from pathlib import Path

import ganlab_wgan
import pytest
import torch
from ganlab_wgan.critic import CriticConfig, build_critic
from ganlab_wgan.loss import WassersteinGP, gradient_penalty
from torch import nn

from ganlab import BuildContext
from ganlab.testing import SHRINK

QUICKSTART = Path(__file__).parents[3] / "experiments" / "wgan_gp_quickstart.toml"


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its gradient is w everywhere, so the penalty is exactly (|w| - 1)^2."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, images):
        return images.flatten(1) @ self.weight.flatten() + 0.3


class QuadraticCritic(nn.Module):
    """D(x) = |x|^2 / 2: its gradient at x is x itself."""

    def forward(self, images):
        return images.flatten(1).square().sum(1) / 2


def test_penalty_of_a_linear_critic_is_the_squared_distance_of_its_weight_norm_from_one():
    weight = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])  # norm 5
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert gradient_penalty(LinearCritic(weight), real, fake).item() == pytest.approx(16.0)


def test_penalty_matches_a_direct_computation_at_the_same_interpolation_points():
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    torch.manual_seed(7)
    penalty = gradient_penalty(QuadraticCritic(), real, fake)
    torch.manual_seed(7)
    e = torch.rand(5, 1, 1, 1)
    mixed = e * real + (1 - e) * fake
    expected = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_each_process_penalises_its_own_share_of_the_interpolation_points_of_the_whole_batch(monkeypatch):
    """The second of two processes holds images 3-5 of a global batch of 6: their mixing weights are the
    ones one process draws for those images, not a repeat of the first process's."""
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    torch.manual_seed(7)
    e = torch.rand(6, 1, 1, 1)
    mixed = e * real + (1 - e) * fake
    expected = ((mixed[3:].flatten(1).norm(dim=1) - 1) ** 2).mean()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    torch.manual_seed(7)
    penalty = gradient_penalty(QuadraticCritic(), real[3:], fake[3:])
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)


def test_penalty_gradient_reaches_the_critic_weights():
    weight = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])
    critic = LinearCritic(weight.clone())
    gradient_penalty(critic, torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)).backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(critic.weight.grad, 2 * (5 - 1) * weight / 5)


def test_the_penalty_is_the_gradient_penalty_times_its_weight():
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    critic = LinearCritic(torch.tensor([[[[0.0, 2.0], [0.0, 0.0]]]]))
    assert WassersteinGP(gp_weight=10.0).penalty(critic, real, fake).item() == pytest.approx(10.0)


def test_wasserstein_losses_on_known_scores():
    loss = WassersteinGP()
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 0.0])
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(-0.5 - 3.0)
    assert loss.generator_loss(fake).item() == pytest.approx(0.5)


@pytest.mark.parametrize("norm, layer", [("layer", nn.GroupNorm), ("instance", nn.InstanceNorm2d), ("none", None)])
def test_critic_uses_the_chosen_norm_and_never_batch_norm(norm, layer):
    critic = build_critic(
        CriticConfig(features=4, norm=norm), BuildContext(seed=0, device=torch.device("cpu"), image_size=32, channels=3)
    )
    kinds = {type(m) for m in critic.modules()}
    assert not any(issubclass(k, nn.modules.batchnorm._BatchNorm) for k in kinds)
    assert (layer in kinds) if layer else not kinds & {nn.GroupNorm, nn.InstanceNorm2d}
    assert critic(torch.randn(3, 3, 32, 32)).shape == (3,)


def test_a_batch_norm_discriminator_is_refused_before_training(register_plugin, write_recipe, run_cli):
    register_plugin(ganlab_wgan)
    recipe = write_recipe({"loss": {"name": "wgan-gp", "gp_weight": 10.0}, "discriminator": {"name": "dcgan"}})
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert "discriminator: uses batch norm (BatchNorm2d)" in result.output
    assert '"wgan-critic"' in result.output


def test_quickstart_recipe_trains_five_critic_updates_per_generator_update(register_plugin, train_recipe):
    register_plugin(ganlab_wgan)
    run = train_recipe(QUICKSTART, *SHRINK)
    meta = run.read_meta()
    assert (meta["status"], meta["steps"], meta["d_steps"]) == ("finished", 2, 5)
    checkpoint = torch.load(run.checkpoints()[-1], weights_only=True)
    assert {int(s["step"]) for s in checkpoint["optimizer_d"]["state"].values()} == {10}
    assert {int(s["step"]) for s in checkpoint["optimizer_g"]["state"].values()} == {2}


def test_an_fp16_run_takes_the_penalty_in_fp32_and_trains_with_finite_losses(
    register_plugin, train_recipe, monkeypatch
):
    """Under fp16 autocast the penalty's inner gradient could underflow unless it were taken at the gradient
    scaler's scale; the engine avoids that by calling the penalty outside autocast. Each penalty the run
    adds must therefore equal an explicit fp32 computation from the same random state (to float32
    rounding, rel 1e-6; an fp16 critic would be off by about 1e-3)."""
    register_plugin(ganlab_wgan)
    seen: list[tuple[bool, float, float]] = []
    penalty = WassersteinGP.penalty

    def recording(self, critic, real, fake):
        rng = torch.get_rng_state()
        value = penalty(self, critic, real, fake)
        torch.set_rng_state(rng)
        with torch.autocast("cpu", enabled=False):
            fp32 = penalty(self, critic, real.float(), fake.float())
        seen.append((torch.is_autocast_enabled("cpu"), value.item(), fp32.item()))
        return value

    monkeypatch.setattr(WassersteinGP, "penalty", recording)
    run = train_recipe(QUICKSTART, *SHRINK, "train.precision=fp16", "train.max_steps=2")
    assert len(seen) == 10
    assert not any(autocast for autocast, _, _ in seen)
    assert [value for _, value, _ in seen] == pytest.approx([fp32 for _, _, fp32 in seen], rel=1e-6)
    metrics = run.read_metrics()
    assert run.read_meta()["status"] == "finished" and [m["step"] for m in metrics] == [1, 2]
    assert all(math.isfinite(m[key]) for m in metrics for key in ("loss_d", "loss_g"))
    assert "scaler_d" in torch.load(run.checkpoints()[-1], weights_only=True)


def test_a_compiled_run_trains_as_an_eager_one_although_the_penalty_back_propagates_twice(
    register_plugin, train_recipe, monkeypatch
):
    """Compiled modules cannot back-propagate twice, so the penalty goes through the uncompiled critic
    while the other passes stay compiled (aot_eager: dynamo and AOTAutograd without a C++ compiler)."""
    register_plugin(ganlab_wgan)
    compile_with_backend = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module: compile_with_backend(module, backend="aot_eager"))

    def losses(*overrides: str) -> list[tuple[float, float]]:
        run = train_recipe(QUICKSTART, *SHRINK, "train.max_steps=2", *overrides)
        return [(m["loss_d"], m["loss_g"]) for m in run.read_metrics()]

    compiled = losses("train.compile=true", "experiment.name=compiled")
    assert len(compiled) == 2
    assert compiled == [pytest.approx(pair, rel=1e-4) for pair in losses()]
