"""SNGAN for ganlab (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks").

Registers the ``sngan`` discriminator (the DCGAN discriminator with every layer spectrally normalised and
no batch norm) and the ``hinge`` loss that SNGAN is usually trained with.
"""

# ganlab registers the components declared in this module's namespace, so the factories are imported here.
from .discriminator import SNDiscriminatorConfig, build_sn_discriminator  # noqa: F401
from .hinge import HingeConfig, build_hinge  # noqa: F401
