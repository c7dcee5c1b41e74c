"""The one image-grid layout: progress grids, ``ganlab generate``, the report and compare all use it."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def grid_png(images: torch.Tensor, nrow: int | None = None, text: Mapping[str, str] | None = None) -> bytes:
    """uint8 (N, C, H, W) images as one PNG: a square grid unless ``nrow`` is given, 2 px black padding;
    ``text`` goes in as the PNG's text chunks (how the images were made)."""
    return png(grid_image(images, nrow), text)


def grid_image(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """:func:`grid_png`'s grid as one uint8 (C, H, W) image, for a logger that stores images itself."""
    import torchvision.utils as vutils  # on first use: importing torchvision slows every command's start

    return vutils.make_grid(images, nrow=nrow or int(math.ceil(math.sqrt(images.shape[0]))), padding=2)


def png(grid: torch.Tensor, text: Mapping[str, str] | None = None) -> bytes:
    """A uint8 (C, H, W) image as PNG bytes, with ``text`` as its text chunks."""
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy().squeeze()).save(buffer, format="PNG", pnginfo=png_text(text))
    return buffer.getvalue()


def png_text(text: Mapping[str, str] | None) -> PngInfo | None:
    """``text`` as PNG text chunks (what Pillow's ``Image.open(...).text`` reads back)."""
    if not text:
        return None
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    return info
