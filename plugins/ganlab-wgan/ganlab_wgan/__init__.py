"""WGAN-GP for ganlab (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Registers the ``wgan-gp`` loss and the ``wgan-critic`` discriminator. The paper's recipe also trains the
critic several times per generator update (``train.d_steps = 5``) with Adam at lr 1e-4 and betas
(0.0, 0.9); both are ordinary recipe settings, see ``experiments/wgan_gp_celeba.toml``.
"""

from ganlab import hookimpl

from .critic import CriticConfig, build_critic
from .loss import WGANGPConfig, build_wgan_gp


@hookimpl
def ganlab_register(registry):
    registry.add("loss", "wgan-gp", build_wgan_gp, WGANGPConfig,
                 help="Wasserstein loss with gradient penalty (WGAN-GP); pair it with a critic without "
                      "batch norm and train.d_steps = 5")
    registry.add("discriminator", "wgan-critic", build_critic, CriticConfig,
                 help="DCGAN discriminator with layer norm, instance norm or none instead of batch norm")
