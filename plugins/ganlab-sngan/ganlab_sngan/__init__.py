"""SNGAN for ganlab (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks").

Registers the ``sngan`` discriminator (the DCGAN discriminator with every layer spectrally normalised and
no batch norm) and the ``hinge`` loss that SNGAN is usually trained with.
"""

from ganlab import hookimpl

from .discriminator import SNDiscriminatorConfig, build_sn_discriminator
from .hinge import HingeConfig, build_hinge


@hookimpl
def ganlab_register(registry):
    registry.add("discriminator", "sngan", build_sn_discriminator, SNDiscriminatorConfig,
                 help="DCGAN discriminator with spectral norm on every layer and no batch norm")
    registry.add("loss", "hinge", build_hinge, HingeConfig,
                 help="hinge loss: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z))")
