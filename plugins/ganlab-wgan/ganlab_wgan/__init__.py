"""WGAN-GP for ganlab (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Registers the ``wgan-gp`` loss and the ``wgan-critic`` discriminator. The paper's recipe also trains the
critic several times per generator update (``train.d_steps = 5``) with Adam at lr 1e-4 and betas
(0.0, 0.9); both are ordinary recipe settings, see ``experiments/wgan_gp_celeba.toml``.
"""

# ganlab registers the components declared in this module's namespace, so the factories are imported here.
from .critic import CriticConfig, build_critic  # noqa: F401
from .loss import WGANGPConfig, build_wgan_gp  # noqa: F401
