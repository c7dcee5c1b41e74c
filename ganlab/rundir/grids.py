"""The one image-grid layout: progress grids, ``ganlab generate``, the report and compare all use it."""

from __future__ import annotations

import io
import math

import torch
from PIL import Image


def grid_png(images: torch.Tensor, nrow: int | None = None) -> bytes:
    """uint8 (N, C, H, W) images as one PNG: a square grid unless ``nrow`` is given, 2 px black padding."""
    import torchvision.utils as vutils  # on first use: importing torchvision slows every command's start

    grid = vutils.make_grid(images, nrow=nrow or int(math.ceil(math.sqrt(images.shape[0]))), padding=2)
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy().squeeze()).save(buffer, format="PNG")
    return buffer.getvalue()
