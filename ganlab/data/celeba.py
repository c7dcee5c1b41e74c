"""``celeba``: CelebA's aligned-and-cropped faces, with the standard centre 178x178 crop.

CelebA cannot be downloaded automatically (its hosting requires accepting terms); when it is not on disk
the error says where ganlab looked and how to get it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import param
from ..errors import DataError
from ..hookspecs import hookimpl
from ..protocols import BuildContext
from .folder import Filter, ImageFolder, ImageFolderConfig

HOW_TO_GET = (
    "CelebA is not downloaded automatically. Get 'img_align_celeba' (202,599 JPEGs, 178x218) from the "
    "official site https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive: Img/img_align_celeba.zip) "
    "or from Kaggle (https://www.kaggle.com/datasets/jessicali9530/celeba-dataset), unzip it, and set "
    "data.root to the folder that holds img_align_celeba/ (or to img_align_celeba/ itself)."
)


@dataclasses.dataclass
class CelebAConfig:
    root: str = param("data/celeba", "folder holding img_align_celeba/ (or that folder itself)")
    image_size: int = param(64, "side of the square training images in pixels", min=8)
    crop: int = param(178, "side of the centre crop before resizing (178 is the standard CelebA crop)",
                      min=0)
    resize_filter: Filter = param("bicubic", "resampling filter for the resize")


def find_images(root: Path) -> Path:
    """The folder of CelebA JPEGs under ``root``: ``root/img_align_celeba`` or ``root`` itself."""
    for candidate in (root / "img_align_celeba", root):
        if candidate.is_dir() and any(candidate.glob("*.jpg")):
            return candidate
    raise DataError(f"data.root: no CelebA images found at {str(root)!r} "
                    f"(looked in {str(root / 'img_align_celeba')!r} and {str(root)!r}). {HOW_TO_GET}")


def build(config: CelebAConfig, context: BuildContext) -> ImageFolder:
    folder = find_images(Path(config.root).expanduser())
    return ImageFolder(ImageFolderConfig(root=str(folder), image_size=config.image_size, crop=config.crop,
                                         resize_filter=config.resize_filter))


@hookimpl
def ganlab_register(registry):
    registry.add("dataset", "celeba", build, CelebAConfig,
                 help="CelebA aligned & cropped faces (img_align_celeba), centre crop 178 + resize")
