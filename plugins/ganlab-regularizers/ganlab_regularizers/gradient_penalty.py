"""``r1`` and ``r2``: zero-centred gradient penalties on the discriminator (Mescheder et al. 2018, "Which
Training Methods for GANs do actually Converge?").

Both penalise gamma/2 * E[||grad_x D(x)||^2]: R1 at real images x, R2 at generated ones. The gradient is
that of the sum of D's raw outputs over the batch (each image's output depends on that image alone
without batch norm, so the per-image gradients come out of one backward pass), squared and summed over
each image's pixels, then averaged over the batch, as stylegan2-ada-pytorch and R3GAN compute it. The
gradient is taken with ``create_graph=True`` so the penalty trains D through a second derivative.

Defaults: ``gamma = 10`` (Mescheder et al.'s and StyleGAN2's value) with ``interval = 16`` (StyleGAN2's lazy
R1: the penalty every 16th step, weighted by 16, which costs a sixteenth of the compute for the same
strength). R3GAN instead applies both penalties every step (``interval = 1``) with a gamma fitted to the
data (0.05 for CIFAR-10 at 32x32, 2 for FFHQ at 64x64); its recipes in this package say so.

A discriminator with batch norm makes each image's output depend on the whole batch, so the per-image
gradient is no longer that image's: both refuse one before training, as the WGAN-GP loss does. In a
conditional run D judges each image with its labels: the real images' for R1, the generated ones' for R2.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from ganlab import BuildContext, ConfigError, Regularizer, RegularizerInputs, component, param


def zero_centred_gradient_penalty(
    images: torch.Tensor, discriminate: Callable[[torch.Tensor], torch.Tensor], gamma: float
) -> torch.Tensor:
    """gamma/2 * mean over the batch of ||grad_x D(x)||^2 at ``images``; differentiable in D's parameters.

    ``images`` are detached first: the penalty trains the discriminator only, even where ``images`` came
    attached to the generator's graph.
    """
    images = images.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(discriminate(images).sum(), images, create_graph=True)
    return gamma / 2 * gradient.square().sum(dim=tuple(range(1, gradient.dim()))).mean()


@dataclasses.dataclass
class GradientPenaltyConfig:
    gamma: float = param(10.0, "weight: the term is gamma/2 * E[||grad_x D(x)||^2]", min=0.0)
    interval: int = param(16, "apply every this many steps, weighted by it (lazy regularisation; 1: every step)", min=1)


class GradientPenalty(Regularizer):
    """The zero-centred penalty on the discriminator at the images :meth:`penalised` picks."""

    applies_to = "discriminator"

    def __init__(self, config: GradientPenaltyConfig, context: BuildContext):
        self.gamma = config.gamma
        self.interval = config.interval

    @abc.abstractmethod
    def penalised(self, inputs: RegularizerInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images at which D's gradient is penalised, with their labels (None in an unconditional run)."""

    def term(self, inputs: RegularizerInputs) -> torch.Tensor:
        images, labels = self.penalised(inputs)
        return zero_centred_gradient_penalty(images, lambda x: inputs.discriminate(x, labels), self.gamma)

    def check_discriminator(self, discriminator: nn.Module) -> None:
        batch_norms = sorted(
            {type(m).__name__ for m in discriminator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        )
        if batch_norms:
            raise ConfigError(
                "discriminator",
                f"uses batch norm ({', '.join(batch_norms)}), under which a "
                "per-image gradient penalty (r1, r2) is not that image's; use a "
                'discriminator without it (wgan-critic with norm = "none", '
                'sngan, or cdcgan-projection with norm = "none")',
            )


@component(
    "regularizer",
    "r1",
    config=GradientPenaltyConfig,
    help="R1: gamma/2 * E||grad D(x)||^2 on real images, added to D's loss (gamma 10, every 16 steps)",
)
class R1(GradientPenalty):
    def penalised(self, inputs: RegularizerInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        return inputs.real, inputs.real_labels


@component(
    "regularizer",
    "r2",
    config=GradientPenaltyConfig,
    help="R2: gamma/2 * E||grad D(G(z))||^2 on generated images, added to D's loss (gamma 10, every 16 steps)",
)
class R2(GradientPenalty):
    def penalised(self, inputs: RegularizerInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        return inputs.fake, inputs.fake_labels
