"""``image-folder``: every image under a folder or in a zip archive (recursively), centre-cropped and resized."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..recipes.config import param
from ..protocols import BuildContext
from ..plugins.registry import component
from .imageset import CachedImages, CachedImagesConfig
from .sources import open_source
from .transform import CropResize


@dataclasses.dataclass(kw_only=True)
class ImageFolderConfig(CachedImagesConfig):
    root: str = param(help="folder or .zip archive holding the images; subfolders are searched too")
    crop: int = param(0, "side of the centre crop before resizing; 0 crops to the shorter side", min=0)


@component("dataset", "image-folder", config=ImageFolderConfig,
           help="every image under a folder or in a zip archive (recursive), centre crop + resize, "
                "cached")
def build(config: ImageFolderConfig, context: BuildContext) -> CachedImages:
    source = open_source(Path(config.root).expanduser())
    return CachedImages(source, CropResize(config.image_size, config.crop, config.resize_filter), config)
