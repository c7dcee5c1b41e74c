"""``image-folder``: every image under a folder or in a zip archive (recursively), centre-cropped and resized.

With ``labels = "folders"`` each image is labelled with the sub-folder of the root it lies under (its
class, torchvision's ImageFolder layout): one attribute ``class`` whose values are the folder names, sorted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from ..common.config import param
from ..common.errors import DataError
from ..common.labels import Attribute, LabelSpace
from ..contracts.engine import BuildContext
from ..registry.registry import component
from .imageset import CachedImages, CachedImagesConfig
from .labelled import LabelledImages
from .sources import Source, open_source
from .transform import CropResize


@dataclasses.dataclass(kw_only=True)
class ImageFolderConfig(CachedImagesConfig):
    root: str = param(help="folder or .zip archive holding the images; subfolders are searched too")
    crop: int = param(0, "side of the centre crop before resizing; 0 crops to the shorter side", min=0)
    labels: Literal["none", "folders"] = param(
        "none", '"folders": label each image with its class, the sub-folder of root it lies under'
    )


def class_folders(source: Source) -> tuple[LabelSpace, np.ndarray]:
    """The ``class`` attribute of the root's sub-folders and each image's value. Raises DataError when an
    image lies directly in the root (it has no class), or when there is only one class."""
    parts = [PurePosixPath(name).parts for name in source.names]
    loose = [name for name, p in zip(source.names, parts) if len(p) == 1]
    if loose:
        raise DataError(
            f'data.labels: "folders" takes each image\'s class from the sub-folder it lies in, '
            f"but {len(loose)} images lie directly in {source.location!r}, e.g. {loose[0]!r}; move "
            f'them into a class folder or set data.labels = "none"'
        )
    classes = sorted({p[0] for p in parts})
    if len(classes) < 2:
        raise DataError(
            f'data.labels: "folders" found one class folder only ({classes[0]!r}) in '
            f"{source.location!r}; give as root the folder that holds the class folders"
        )
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([[index[p[0]]] for p in parts], dtype=np.int64)
    return LabelSpace((Attribute("class", tuple(classes)),)), labels


@component(
    "dataset",
    "image-folder",
    config=ImageFolderConfig,
    help="every image under a folder or in a zip archive (recursive), centre crop + resize, cached",
)
def build(config: ImageFolderConfig, context: BuildContext) -> CachedImages:
    source = open_source(Path(config.root).expanduser())
    transform = CropResize(config.image_size, config.crop, config.resize_filter)
    if config.labels == "folders":
        return LabelledImages(source, transform, config, *class_folders(source))
    return CachedImages(source, transform, config)
