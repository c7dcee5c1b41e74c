"""Encoded image bytes -> the uint8 (3, size, size) training image: centre crop, then resize.

Decoding is the cost of a data pipeline, so :class:`CropResize` asks Pillow's JPEG decoder for a reduced
scale (``Image.draft``: the DCT is evaluated at 1/2, 1/4 or 1/8 size, several times cheaper than a full
decode) whenever the crop still has at least ``size`` pixels at that scale, and then resizes exactly to
``size``. The result stays within about one grey level (mean absolute difference) of the full decode;
BENCHMARKS.md has the measured figures. Formats without draft support are decoded in full.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any, Literal

import numpy as np
from PIL import Image

Filter = Literal["lanczos", "bicubic", "bilinear", "box", "nearest"]
FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}


@dataclasses.dataclass(frozen=True)
class CropResize:
    """Centre ``crop`` x ``crop`` (0: the shorter side; never more than the image), then resize to ``size``."""

    size: int
    crop: int = 0
    resize_filter: Filter = "bicubic"
    draft: bool = True

    def __call__(self, data: bytes) -> np.ndarray:
        """Decode ``data`` (any format Pillow reads) to RGB uint8 (3, size, size); raises on bad data."""
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            side = min(width, height) if self.crop == 0 else min(self.crop, width, height)
            if self.draft:
                # Ask for the smallest scale at which the crop still covers ``size`` pixels.
                image.draft("RGB", (-(-width * self.size // side), -(-height * self.size // side)))
            # The decoder reduces by a power of two k and rounds the size up, so pixel i covers [i*k, (i+1)*k).
            scale = 1 / 2 ** round(np.log2(width / image.size[0]))
            left, top = (width - side) / 2, (height - side) / 2
            box = (left * scale, top * scale, (left + side) * scale, (top + side) * scale)
            image = image.convert("RGB").resize((self.size, self.size), FILTERS[self.resize_filter], box=box)
        return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)

    def describe(self) -> dict[str, Any]:
        return {
            "image_size": self.size,
            "crop": self.crop,
            "resize_filter": self.resize_filter,
            "draft_decode": self.draft,
        }
