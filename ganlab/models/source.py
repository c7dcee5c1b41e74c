"""What an export starts from and what its check found: shared by the export and its model card."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..rundir.rundir import RunDir
from ..training.conditioning import LabelDistribution, is_conditional
from ..training.sampling import seeded_inputs, seeded_rng

CHECK_SEED, CHECK_IMAGES = 0, 8
"""The latents every export is checked on: the first images of ``ganlab generate --seed 0``."""


def agreement(check: dict[str, Any]) -> str:
    """How closely an export made ganlab's images, from its verification record: "bit for bit", or the
    largest difference against the tolerance."""
    if check["bit_for_bit"]:
        return "bit for bit"
    pixels = "pixels equal" if check["max_pixel_diff"] == 0 else f"pixels differ by at most {check['max_pixel_diff']}"
    return f"to {check['max_abs_diff']:.2g} (tolerance {check['tolerance']:g}; {pixels})"


@dataclasses.dataclass(frozen=True)
class Verification:
    """How the export compared with ganlab's own generator on the same latents."""

    method: str
    images: int
    max_abs_diff: float
    max_pixel_diff: int
    tolerance: float
    bit_for_bit: bool

    def sentence(self) -> str:
        same = agreement(dataclasses.asdict(self))
        return f"verified: {self.method} makes ganlab's images on {self.images} latents {same}"


@dataclasses.dataclass(frozen=True)
class Source:
    """The generator an export starts from: the network as ganlab samples with it, and where it came from."""

    run_dir: RunDir
    checkpoint: Path
    state: dict[str, Any]
    generator: nn.Module
    frozen: nn.Module
    labels: LabelDistribution | None
    weights: str

    @property
    def conditional(self) -> bool:
        return is_conditional(self.generator)

    def check_inputs(self) -> tuple[torch.Tensor, ...]:
        """The latents (and labels) of ``ganlab generate --seed 0 --num 8``'s images."""
        z, drawn = seeded_inputs(
            seeded_rng(CHECK_SEED), CHECK_IMAGES, self.generator.latent_dim, self.labels if self.conditional else None
        )
        return (z, drawn) if self.conditional else (z,)

    def input_names(self) -> list[str]:
        return ["z", "labels"] if self.conditional else ["z"]
