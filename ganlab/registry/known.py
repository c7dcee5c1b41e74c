"""Components that live in ganlab's own plugin packages, so a recipe naming one can say what to install.

Kept in step with the packages in ``plugins/`` by a test that loads each and compares what it registers.
"""

from __future__ import annotations

KNOWN: dict[tuple[str, str], str] = {
    ("loss", "wgan-gp"): "ganlab-wgan",
    ("discriminator", "wgan-critic"): "ganlab-wgan",
    ("discriminator", "sngan"): "ganlab-sngan",
    ("loss", "hinge"): "ganlab-sngan",
    ("loss", "lsgan"): "ganlab-lsgan",
    ("augment", "diffaugment"): "ganlab-augment",
    ("augment", "ada"): "ganlab-augment",
    ("regularizer", "r1"): "ganlab-regularizers",
    ("regularizer", "r2"): "ganlab-regularizers",
    ("loss", "rpgan"): "ganlab-regularizers",
    ("logger", "tensorboard"): "ganlab-tensorboard",
}


def package_providing(kind: str, name: str) -> str | None:
    return KNOWN.get((kind, name))
