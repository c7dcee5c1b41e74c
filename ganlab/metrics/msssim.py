"""Multi-scale SSIM (Wang, Simoncelli and Bovik 2003), the standard collapse indicator for GAN samples.

The paper's parameters: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, dynamic range 255,
five scales with exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 averaging between scales,
contrast-structure at every scale and luminance only at the coarsest. As in TensorFlow's
``tf.image.ssim_multiscale``, the per-scale terms are clipped at zero before the powers and the result
is averaged over colour channels.

Five scales need images of at least 176 pixels (the window must fit the coarsest scale). GAN images are
often smaller, so only the scales where the window fits are used, with their exponents renormalised to
sum to one: for 64x64 images that is scales 64, 32 and 16. Scores are therefore comparable only between
images of the same size, which the protocol records.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
DYNAMIC_RANGE = 255.0
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
IMPLEMENTATION = "ganlab-msssim/wang2003"


def scales_for(image_size: int) -> int:
    """How many of the five scales fit the 11-pixel window."""
    scales = 0
    while scales < len(SCALE_WEIGHTS) and image_size // (2**scales) >= WINDOW:
        scales += 1
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images of at least {WINDOW}x{WINDOW} pixels, got {image_size}")
    return scales


def _gaussian() -> torch.Tensor:
    x = torch.arange(WINDOW, dtype=torch.float64) - (WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    return g / g.sum()


def _blur(t: torch.Tensor) -> torch.Tensor:
    """The 11x11 Gaussian window over 'valid' positions, applied as two 1-D passes (it is separable)."""
    c = t.shape[1]
    g = _gaussian()
    t = F.conv2d(t, g.view(1, 1, WINDOW, 1).expand(c, 1, WINDOW, 1), groups=c)
    return F.conv2d(t, g.view(1, 1, 1, WINDOW).expand(c, 1, 1, WINDOW), groups=c)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure per image and channel, (N, C), over 'valid' windows."""
    blur = _blur
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (K1 * DYNAMIC_RANGE) ** 2, (K2 * DYNAMIC_RANGE) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of each pair of images in two (N, C, H, W) sets with values in [0, 255]; returns (N,)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"MS-SSIM compares two (N, C, H, W) sets of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    scales = scales_for(min(x.shape[-2:]))
    weights = torch.tensor(SCALE_WEIGHTS[:scales], dtype=torch.float64)
    weights /= weights.sum()
    x, y = x.to(torch.float64), y.to(torch.float64)
    result = torch.ones(x.shape[:2], dtype=torch.float64)
    for scale in range(scales):
        ssim, cs = _ssim_and_cs(x, y)
        term = ssim if scale == scales - 1 else cs
        result = result * term.clamp_min(0) ** weights[scale]
        if scale < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return result.mean(dim=1).to(torch.float32)


def mean_pairwise_ms_ssim(images: torch.Tensor, num_pairs: int, seed: int, batch_size: int = 256) -> float:
    """Mean MS-SSIM over ``num_pairs`` random pairs of distinct images (Odena et al. 2017's diversity)."""
    n = images.shape[0]
    if n < 2:
        raise ValueError("need at least two images to form a pair")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, n, (num_pairs,), generator=generator)
    second = (first + torch.randint(1, n, (num_pairs,), generator=generator)) % n
    total = 0.0
    for start in range(0, num_pairs, batch_size):
        i, j = first[start : start + batch_size], second[start : start + batch_size]
        total += float(ms_ssim(images[i], images[j]).to(torch.float64).sum())
    return total / num_pairs
