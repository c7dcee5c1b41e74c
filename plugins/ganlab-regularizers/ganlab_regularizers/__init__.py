"""Regularizers for ganlab: the R1 and R2 gradient penalties (Mescheder et al. 2018) and the relativistic
pairing loss, which together are the R3GAN baseline (Huang et al. 2024, "The GAN is dead; long live the
GAN!").

Registers the regularizers ``r1`` (on real images) and ``r2`` (on generated ones), both added to the
discriminator's loss, and the loss ``rpgan``. The penalties keep the discriminator's gradient small where
the data (R1) and the generator's samples (R2) are, which is what lets the relativistic pairing loss
converge locally instead of oscillating.
"""

# ganlab registers the components declared in this module's namespace, so the classes are imported here.
from .gradient_penalty import R1, R2, GradientPenaltyConfig, zero_centred_gradient_penalty  # noqa: F401
from .rpgan import RelativisticPairing, RpGANConfig, build_rpgan  # noqa: F401
