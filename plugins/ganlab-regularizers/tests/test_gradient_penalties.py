"""R1 and R2: the zero-centred gradient penalty equals its formula, at the right images, and trains D."""

from __future__ import annotations

import ganlab_regularizers
import pytest
import torch
from ganlab_regularizers import R1, R2, GradientPenaltyConfig
from torch import nn

from ganlab import BuildContext, DCGANDiscriminator, RegularizerInputs

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"), image_size=16, channels=3)


class QuadraticCritic(nn.Module):
    """D(x) = (w . x)^2, whose input gradient 2 (w . x) w has the squared norm 4 (w . x)^2 ||w||^2."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.flatten(1) @ self.weight).square()

    def penalty_by_hand(self, images: torch.Tensor, gamma: float) -> float:
        projections = images.flatten(1) @ self.weight.detach()
        return (gamma / 2 * 4 * projections.square() * self.weight.detach().square().sum()).mean().item()


def inputs(critic, real, fake) -> RegularizerInputs:
    """What the engine gives a regularizer of an unconditional run: no labels, which ``discriminate`` takes
    beside the images."""

    def discriminate(images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        assert labels is None
        return critic(images)

    return RegularizerInputs(
        real=real, fake=fake, latents=torch.zeros(len(fake), 8), discriminate=discriminate, generator=nn.Identity()
    )


def batches(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(6, 3, 4, 4, generator=generator) * 2 - 1, torch.rand(6, 3, 4, 4, generator=generator) * 2 - 1)


def test_r1_is_half_gamma_times_the_mean_squared_gradient_norm_at_the_real_images():
    critic = QuadraticCritic(torch.linspace(-1, 1, 48))
    real, fake = batches()
    term = R1(GradientPenaltyConfig(gamma=3.0), CONTEXT).term(inputs(critic, real, fake))
    assert term.item() == pytest.approx(critic.penalty_by_hand(real, gamma=3.0), rel=1e-5)
    assert term.item() != pytest.approx(critic.penalty_by_hand(fake, gamma=3.0), rel=1e-2)


def test_r2_is_the_same_penalty_at_the_generated_images():
    critic = QuadraticCritic(torch.linspace(-1, 1, 48))
    real, fake = batches()
    term = R2(GradientPenaltyConfig(gamma=3.0), CONTEXT).term(inputs(critic, real, fake))
    assert term.item() == pytest.approx(critic.penalty_by_hand(fake, gamma=3.0), rel=1e-5)
    assert term.item() != pytest.approx(critic.penalty_by_hand(real, gamma=3.0), rel=1e-2)


def test_on_a_convolutional_discriminator_the_batch_gradient_is_each_image_s_own():
    torch.manual_seed(0)
    critic = DCGANDiscriminator(4, 16, 3, norm=None)
    real = torch.rand(5, 3, 16, 16) * 2 - 1
    term = R1(GradientPenaltyConfig(gamma=10.0), CONTEXT).term(inputs(critic, real, real))
    one_by_one = []
    for image in real:
        image = image[None].clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(image).sum(), image)
        one_by_one.append(gradient.square().sum())
    assert term.item() == pytest.approx(5.0 * torch.stack(one_by_one).mean().item(), rel=1e-5)


@pytest.mark.parametrize("penalty", [R1, R2])
def test_the_term_back_propagates_into_the_discriminator_s_weights(penalty):
    torch.manual_seed(0)
    critic = DCGANDiscriminator(4, 16, 3, norm=None)
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    penalty(GradientPenaltyConfig(), CONTEXT).term(inputs(critic, real, fake)).backward()
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    assert len(weights) == 3 and all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)


def test_the_penalty_trains_the_discriminator_only_even_on_attached_fakes():
    generator = nn.Linear(8, 48)
    latents = torch.randn(4, 8)
    fake = generator(latents).view(4, 3, 4, 4)  # as in the generator's phase: attached to G's graph
    critic = QuadraticCritic(torch.linspace(-1, 1, 48))
    R2(GradientPenaltyConfig(), CONTEXT).term(inputs(critic, fake, fake)).backward()
    assert generator.weight.grad is None and critic.weight.grad is not None


def test_both_penalise_the_discriminator_every_16_steps_with_gamma_10_unless_configured():
    for penalty in (R1, R2):
        default = penalty(GradientPenaltyConfig(), CONTEXT)
        assert (default.applies_to, default.interval, default.gamma) == ("discriminator", 16, 10.0)
        configured = penalty(GradientPenaltyConfig(gamma=0.05, interval=1), CONTEXT)
        assert (configured.interval, configured.gamma) == (1, 0.05)


def test_ganlab_lists_both_regularizers_with_their_settings(register_plugin, run_cli):
    register_plugin(ganlab_regularizers, name="regularizers")
    listed = run_cli("list", "regularizer").stdout
    assert "r1  [regularizers]" in listed and "r2  [regularizers]" in listed
    assert "gamma: float = 10.0" in listed and "interval: int = 16" in listed
