"""ADA: p steered by the sign of D on real images (up when D overfits, not when it cannot tell), the
probability gating each operation, gradients, and a state that resumes the same draws and the same p."""

from __future__ import annotations

import io

import pytest
import torch
from ganlab_augment import AdaConfig, AdaptiveAugment, build_ada
from ganlab_augment.ada import OPS, P_MAX
from torch import nn

from ganlab import BuildContext, ConfigError

CPU = torch.device("cpu")
CONTEXT = BuildContext(seed=0, device=CPU, image_size=16, channels=3)


def faces(n: int, size: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """Smooth random colour images in [-1, 1]: a stand-in for a data set of photos."""
    low = torch.rand(n, 3, 4, 4, generator=generator or torch.Generator().manual_seed(0)) * 2 - 1
    return nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)


def test_p_rises_by_the_images_seen_over_speed_kimg_while_d_is_sure_of_the_real_images():
    ada = AdaptiveAugment(OPS, CPU, target=0.6, interval=4, speed_kimg=1.0)
    for _ in range(40):  # 10 adjustments of 4 updates of 16 images each
        ada.observe(torch.full((16,), 3.0))
    assert ada.p.item() == pytest.approx(10 * 16 * 4 / 1000)
    assert ada.rt.item() == 1.0


def test_p_stays_at_zero_while_d_is_right_about_half_the_real_images():
    ada = AdaptiveAugment(OPS, CPU, interval=4, speed_kimg=1.0)
    logits = torch.Generator().manual_seed(0)
    for _ in range(40):
        ada.observe(torch.randn(16, generator=logits))
    assert ada.p.item() == 0.0
    assert abs(ada.rt.item()) < 0.5


def test_p_falls_once_d_no_longer_overfits_and_never_reaches_one():
    ada = AdaptiveAugment(OPS, CPU, p_init=0.5, interval=1, speed_kimg=0.01)
    ada.observe(-torch.ones(16))
    assert ada.p.item() == 0.0
    for _ in range(10):
        ada.observe(torch.ones(16))
    assert ada.p.item() == P_MAX < 1.0


def test_p_moves_only_every_interval_updates():
    ada = AdaptiveAugment(OPS, CPU, interval=3, speed_kimg=1.0)
    ada.observe(torch.ones(8))
    ada.observe(torch.ones(8))
    assert ada.p.item() == 0.0
    ada.observe(torch.ones(8))
    assert ada.p.item() == pytest.approx(24 / 1000)


def test_logged_values_are_p_and_r_t_and_keep_their_value_after_later_adjustments():
    ada = AdaptiveAugment(OPS, CPU, interval=1, speed_kimg=1.0)
    ada.observe(torch.ones(10))
    first = ada.logged()
    ada.observe(torch.ones(10))
    assert set(first) == {"augment_p", "augment_rt"}
    assert first["augment_p"].item() == pytest.approx(0.01) and ada.logged()["augment_p"].item() == pytest.approx(0.02)


def overfit_p(num_real: int, steps: int = 120) -> float:
    """p after a tiny discriminator trained ``steps`` updates to tell ``num_real`` fixed images from fresh
    images of the same kind (a generator that is already perfect), ADA augmenting both. One thread: on
    tensors this small, more only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_and_observe(num_real, steps)
    finally:
        torch.set_num_threads(threads)


def _train_and_observe(num_real: int, steps: int) -> float:
    torch.manual_seed(0)
    draw = torch.Generator().manual_seed(1)
    reals = faces(num_real, size=8, generator=draw)
    d = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(d.parameters(), 2e-3)
    ada = build_ada(AdaConfig(speed_kimg=1.0), CONTEXT)
    for _ in range(steps):
        real = ada(reals[torch.randint(0, num_real, (32,), generator=draw)])
        fake = ada(faces(32, size=8, generator=draw))
        real_logits, fake_logits = d(real).squeeze(1), d(fake).squeeze(1)
        loss = nn.functional.softplus(-real_logits).mean() + nn.functional.softplus(fake_logits).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ada.observe(real_logits.detach())
    return ada.p.item()


def test_a_discriminator_memorising_a_few_dozen_images_raises_p():
    assert overfit_p(32) > 0.1


def test_a_discriminator_that_cannot_memorise_thousands_of_images_keeps_p_low():
    assert overfit_p(4000) < 0.05


def test_at_p_zero_images_pass_unchanged():
    images = faces(64)
    assert torch.equal(AdaptiveAugment(OPS, CPU, p_init=0.0)(images), images)


def test_near_p_one_almost_every_image_is_changed():
    images = faces(200)
    torch.manual_seed(0)
    out = AdaptiveAugment(OPS, CPU, p_init=P_MAX)(images)
    changed = (out != images).flatten(1).any(1).float().mean().item()
    assert changed > 0.95


@pytest.mark.parametrize(
    "op, outcomes",
    [
        ("xflip", lambda x: [x, x.flip(2)]),
        ("rotate90", lambda x: [torch.rot90(x, k, (1, 2)) for k in range(4)]),
    ],
)
def test_a_geometric_op_gives_one_of_its_outcomes_and_all_of_them_occur(op, outcomes):
    images = faces(64)
    torch.manual_seed(0)
    out = AdaptiveAugment((op,), CPU, p_init=P_MAX)(images)
    seen = set()
    for image, result in zip(images, out):
        matches = [i for i, candidate in enumerate(outcomes(image)) if torch.equal(candidate, result)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(len(outcomes(images[0]))))


def test_gradients_reach_the_images():
    ada = AdaptiveAugment(OPS, CPU, p_init=0.7)
    images = faces(2, size=4).double().requires_grad_()

    def augment(x):
        torch.manual_seed(0)
        return ada(x)

    assert torch.autograd.gradcheck(augment, (images,))


def saved(state: dict) -> dict:
    """``state`` through a checkpoint file, as the engine saves and loads it (weights_only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_a_state_round_trip_reproduces_the_following_p_and_draws():
    images, logits = faces(16), torch.Generator().manual_seed(5)
    observed = [torch.randn(16, generator=logits) + 1 for _ in range(12)]
    ada = AdaptiveAugment(OPS, CPU, interval=4, speed_kimg=0.5)
    torch.manual_seed(0)
    for x in observed[:6]:
        ada.observe(x)
        ada(images)
    state, rng = saved(ada.state_dict()), torch.get_rng_state()
    uninterrupted = []
    for x in observed[6:]:
        ada.observe(x)
        uninterrupted.append((ada(images), ada.p.clone()))

    resumed = AdaptiveAugment(OPS, CPU, interval=4, speed_kimg=0.5)
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    for x, (out, p) in zip(observed[6:], uninterrupted):
        resumed.observe(x)
        assert torch.equal(resumed(images), out) and torch.equal(resumed.p, p)


@pytest.mark.parametrize(
    "ops, problem",
    [
        ("xflip,rotate", "unknown part 'rotate' (did you mean 'rotate90'?); known parts: " + ", ".join(OPS)),
        ("", "names no part; known parts: " + ", ".join(OPS)),
    ],
)
def test_ops_naming_an_unknown_operation_are_refused_at_build(ops, problem):
    with pytest.raises(ConfigError) as e:
        build_ada(AdaConfig(ops=ops), CONTEXT)
    assert (e.value.key, e.value.message) == ("ops", problem)
