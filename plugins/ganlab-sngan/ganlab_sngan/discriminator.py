"""``sngan``: a discriminator whose every layer is 1-Lipschitz through spectral normalisation.

Each weight is divided by an estimate of its largest singular value, refined by power iteration on every
training-mode forward pass (the estimate's vectors persist between steps, so one iteration per pass is
enough, as in the paper). That bounds the discriminator's Lipschitz constant without batch norm or a
gradient penalty.
"""

from __future__ import annotations

import dataclasses

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganlab import BuildContext, DCGANDiscriminator, component, param


@dataclasses.dataclass
class SNDiscriminatorConfig:
    features: int = param(64, "width of the first layer; later layers are 2x, 4x, 8x wider", min=1)
    power_iterations: int = param(1, "power iterations per forward pass for the singular value estimate", min=1)


def spectrally_normalise(network: nn.Module, power_iterations: int) -> nn.Module:
    """Put spectral norm on the weight of every convolution and linear layer of ``network``, in place."""
    for module in list(network.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(module, n_power_iterations=power_iterations)
    return network


@component(
    "discriminator",
    "sngan",
    config=SNDiscriminatorConfig,
    help="DCGAN discriminator with spectral norm on every layer and no batch norm",
)
def build_sn_discriminator(config: SNDiscriminatorConfig, context: BuildContext) -> nn.Module:
    network = DCGANDiscriminator(config.features, context.image_size, context.channels, norm=None)
    return spectrally_normalise(network, config.power_iterations)
