"""Sliced Wasserstein distance over Laplacian-pyramid patches (Karras et al. 2018, ProGAN, appendix D).

Follows the paper's reference code (``metrics/sliced_wasserstein.py`` in tkarras/progressive_growing_of_gans):
a Laplacian pyramid from the full resolution down to 16x16 (5-tap binomial filter, mirrored edges), 128
random 7x7 neighbourhoods per image and level, each level's descriptors normalised per colour channel
over the whole set, then 4 repeats of 128 random unit projections; the distance of a level is the mean
absolute difference of the sorted projections, reported x1e3 as in the paper's tables.

Patch positions and projections come from generators seeded by ``seed`` alone, so both image sets are
sampled identically: the distance of a set to itself is exactly 0 and ``swd(a, b) == swd(b, a)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PATCH_SIZE = 7
PATCHES_PER_IMAGE = 128
PROJECTION_REPEATS = 4
PROJECTIONS_PER_REPEAT = 128
MIN_LEVEL = 16
SCALE = 1e3
IMPLEMENTATION = "ganlab-swd/karras2018"

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
_GAUSSIAN = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0


def level_sizes(image_size: int) -> list[int]:
    """Sides of the pyramid levels, full resolution first, down to the last one that is at least 16."""
    if image_size < MIN_LEVEL:
        raise ValueError(f"SWD needs images of at least {MIN_LEVEL}x{MIN_LEVEL} pixels, got {image_size}")
    sizes = [image_size]
    while (sizes[-1] + 1) // 2 >= MIN_LEVEL:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _blur(x: torch.Tensor, gain: float) -> torch.Tensor:
    c = x.shape[1]
    kernel = (_GAUSSIAN * gain).to(x.dtype).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=c)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x, 1.0)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    up = torch.zeros(x.shape[0], x.shape[1], size[0], size[1], dtype=x.dtype)
    up[:, :, ::2, ::2] = x
    return _blur(up, 4.0)


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual."""
    pyramid = [images.to(torch.float32)]
    for _ in range(1, levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1], pyramid[-2].shape[-2:])
    return pyramid


def descriptors(level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """128 random 7x7 neighbourhoods per image, normalised per channel, flattened: (N * 128, C * 49)."""
    n, c, h, w = level.shape
    half = PATCH_SIZE // 2
    ys = torch.randint(half, h - half, (n, PATCHES_PER_IMAGE), generator=generator)
    xs = torch.randint(half, w - half, (n, PATCHES_PER_IMAGE), generator=generator)
    offsets = torch.arange(-half, half + 1)
    rows = (ys[..., None] + offsets)[..., :, None]  # (n, P, 7, 1)
    cols = (xs[..., None] + offsets)[..., None, :]  # (n, P, 1, 7)
    image = torch.arange(n)[:, None, None, None]
    patches = level.permute(0, 2, 3, 1)[image, rows, cols]  # (n, P, 7, 7, c)
    patches = patches.reshape(n * PATCHES_PER_IMAGE, PATCH_SIZE, PATCH_SIZE, c)
    mean = patches.mean(dim=(0, 1, 2), keepdim=True)
    std = patches.std(dim=(0, 1, 2), keepdim=True, unbiased=False).clamp_min(1e-8)
    return ((patches - mean) / std).reshape(patches.shape[0], -1)


def _sorted_projections(descriptors: torch.Tensor, directions: torch.Tensor) -> np.ndarray:
    """Each projection's values in order, one row per direction (numpy sorts contiguous rows fastest)."""
    return np.sort((directions.T @ descriptors.T).numpy(), axis=1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> float:
    results = []
    for _ in range(PROJECTION_REPEATS):
        directions = torch.randn(a.shape[1], PROJECTIONS_PER_REPEAT, generator=generator)
        directions /= directions.norm(dim=0, keepdim=True)
        results.append(np.abs(_sorted_projections(a, directions) - _sorted_projections(b, directions)).mean())
    return float(np.mean(results))


def swd(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> dict[int, float]:
    """SWD x1e3 per pyramid level (keyed by its side in pixels) between two uint8 sets of equal size."""
    if a.shape != b.shape:
        raise ValueError(f"SWD compares sets of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    sizes = level_sizes(min(a.shape[-2:]))
    out = {}
    for index, (level_a, level_b) in enumerate(zip(laplacian_pyramid(a, len(sizes)), laplacian_pyramid(b, len(sizes)))):
        desc_a = descriptors(level_a, torch.Generator().manual_seed(seed * 1009 + index))
        desc_b = descriptors(level_b, torch.Generator().manual_seed(seed * 1009 + index))
        out[sizes[index]] = SCALE * sliced_wasserstein(
            desc_a, desc_b, torch.Generator().manual_seed(seed * 1013 + index)
        )
    return out
