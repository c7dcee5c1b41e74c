"""The Wasserstein critic loss with a gradient penalty.

The critic's outputs are scores, not logits: the critic maximises E[D(x)] - E[D(G(z))], an estimate of
the Wasserstein-1 distance provided the critic is 1-Lipschitz. Instead of clipping weights (WGAN), the
penalty pushes the critic's gradient norm towards 1 on random points between real and fake images.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ganlab import BuildContext, ConfigError, Loss, ScoreKind, component, draw_for_global_batch, param


@dataclasses.dataclass
class WGANGPConfig:
    gp_weight: float = param(10.0, "lambda, the weight of the gradient penalty (10 in the paper)", min=0.0)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] with x_hat = e * real + (1 - e) * fake, e ~ U[0, 1] per image.

    The graph is kept (``create_graph``) so that the penalty's own gradient reaches the critic's weights.
    The engine calls this outside autocast, so the inner gradient is taken in fp32 even in an fp16 run and
    cannot underflow, as an unscaled fp16 one could (PyTorch's AMP notes, "Gradient penalty").
    In a run with several processes ``real`` and ``fake`` are this process's share of the batch, and ``e``
    is its share of the draw for the whole batch, so the processes penalise the points one process would.
    """
    shape = (1,) * (real.dim() - 1)
    e = draw_for_global_batch(lambda n: torch.rand(n, *shape, device=real.device, dtype=real.dtype), real.shape[0])
    mixed = (e * real + (1 - e) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


CRITIC_SCORE = ScoreKind(
    "critic score",
    "The critic's raw output: higher means more real, but only differences mean anything "
    "(the mean over real images minus that over generated ones estimates the Wasserstein distance).",
)
"""Unbounded, and with no outright win: the critic's gradients do not vanish however far apart its scores are."""


@dataclasses.dataclass(frozen=True)
class WassersteinGP(Loss):
    gp_weight: float = 10.0
    score_kind = CRITIC_SCORE

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean()

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.gp_weight * gradient_penalty(discriminator, real, fake)

    def check_discriminator(self, discriminator: nn.Module) -> None:
        """Batch norm makes each image's score depend on the rest of the batch, so the per-image gradient
        the penalty constrains is not the critic's; the paper drops it from the critic for that reason."""
        batch_norms = sorted(
            {type(m).__name__ for m in discriminator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        )
        if batch_norms:
            raise ConfigError(
                "discriminator",
                f"uses batch norm ({', '.join(batch_norms)}), which the "
                "WGAN-GP gradient penalty cannot work with; use "
                'name = "wgan-critic" (layer norm) or another discriminator '
                "without batch norm",
            )


@component(
    "loss",
    "wgan-gp",
    config=WGANGPConfig,
    help="Wasserstein loss with gradient penalty (WGAN-GP); pair it with a critic without batch norm "
    "and train.d_steps = 5",
)
def build_wgan_gp(config: WGANGPConfig, context: BuildContext) -> WassersteinGP:
    return WassersteinGP(config.gp_weight)
