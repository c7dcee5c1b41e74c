"""``image-folder``: every image under a folder (recursively), centre-cropped and resized."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ..config import param
from ..errors import DataError
from ..hookspecs import hookimpl
from ..protocols import BuildContext

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})

Filter = Literal["lanczos", "bicubic", "bilinear", "box", "nearest"]
_FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
            "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX,
            "nearest": Image.Resampling.NEAREST}


@dataclasses.dataclass
class ImageFolderConfig:
    root: str = param(help="folder holding the images; subfolders are searched too")
    image_size: int = param(64, "side of the square training images in pixels", min=8)
    crop: int = param(0, "side of the centre crop before resizing; 0 crops to the shorter side", min=0)
    resize_filter: Filter = param("bicubic", "resampling filter for the resize")


def centre_crop_resize(image: Image.Image, crop: int, size: int, resample: int) -> np.ndarray:
    """RGB uint8 (3, size, size): centre ``crop`` x ``crop`` (0: the shorter side), then resize."""
    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h) if crop == 0 else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.resize((size, size), resample, box=(left, top, left + side, top + side))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


class ImageFolder:
    """Decodes on access; the engine's loader runs it in worker processes."""

    def __init__(self, config: ImageFolderConfig):
        self.config = config
        root = Path(config.root).expanduser()
        if not root.exists():
            raise DataError(f"data.root: {config.root!r} does not exist")
        if not root.is_dir():
            raise DataError(f"data.root: {config.root!r} is not a folder")
        self.files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise DataError(f"data.root: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                            f"found under {config.root!r}")
        self.image_size = config.image_size
        self.channels = 3
        self._resample = _FILTERS[config.resize_filter]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.files[index]) as image:
            array = centre_crop_resize(image, self.config.crop, self.image_size, self._resample)
        return torch.from_numpy(array)

    def describe(self) -> dict[str, Any]:
        return {"source": str(Path(self.config.root).expanduser().resolve()), "count": len(self),
                "image_size": self.image_size, "crop": self.config.crop,
                "resize_filter": self.config.resize_filter}


def build(config: ImageFolderConfig, context: BuildContext) -> ImageFolder:
    return ImageFolder(config)


@hookimpl
def ganlab_register(registry):
    registry.add("dataset", "image-folder", build, ImageFolderConfig,
                 help="every image under a folder (recursive), centre crop + resize")
