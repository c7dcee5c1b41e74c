"""A folder (or zip archive) of images exactly as stored: what ``ganlab score`` compares, as the peers do.

``fidelity --input1 A``, ``python -m pytorch_fid A B`` and clean-fid read every image of a folder at its
own size (Pillow, ``convert("RGB")``) and leave resizing to the feature network. So does this data set;
``size`` (``--size``) instead centre-crops and resizes every image as a training data set does, for
folders whose images differ in size.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..common.errors import DataError
from ..data.sources import Source, open_source
from ..data.transform import CropResize


class ImageFiles:
    """Every image under ``root``, uint8 (3, H, W); all of one size unless ``size`` resizes them."""

    channels = 3

    def __init__(self, root: Path, what: str, size: int | None = None):
        try:
            self.source: Source = open_source(root)
        except DataError as e:
            raise DataError(f"{what}: {str(e).removeprefix('data.root: ')}") from None
        self.what = what
        self.size = size
        self.transform = CropResize(size, draft=False) if size else None
        first = self[0]
        self.shape = tuple(first.shape)
        self.image_size = self.shape[1]

    def __len__(self) -> int:
        return len(self.source.names)

    def __getitem__(self, index: int) -> torch.Tensor:
        name = self.source.names[index]
        try:
            data = self.source.read(name)
            if self.transform is not None:
                return torch.from_numpy(self.transform(data).copy())
            with Image.open(io.BytesIO(data)) as image:
                return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1).copy())
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(
                f"{self.what}: {name!r} in {self.source.location!r} is not a readable image ({e})"
            ) from None

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        images = [self[int(i)] for i in indices]
        for i, image in zip(indices, images):
            if tuple(image.shape) != self.shape:
                raise DataError(
                    f"{self.what}: {self.source.names[int(i)]!r} is {image.shape[2]}x{image.shape[1]} "
                    f"but {self.source.names[0]!r} is {self.shape[2]}x{self.shape[1]}; images are "
                    "compared as stored, so give --size N to centre-crop and resize them all to N"
                )
        return torch.stack(images)

    def describe(self) -> dict[str, Any]:
        return {
            "source": str(self.source.location),
            "files": self.source.fingerprint(),
            "count": len(self),
            "image_size": self.size or f"as stored ({self.shape[2]}x{self.shape[1]})",
            "decode": "Pillow convert('RGB')" if self.transform is None else self.transform.describe(),
        }
