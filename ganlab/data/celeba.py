"""``celeba``: CelebA's aligned-and-cropped faces, read the way users have them, with the standard crop.

Accepted ``root`` layouts, all read in place:

- the folder ``img_align_celeba/`` of 202,599 JPEGs, or a folder holding it (also Kaggle's extracted
  ``img_align_celeba/img_align_celeba/``);
- the archive ``img_align_celeba.zip`` itself (official: ``img_align_celeba/000001.jpg``; Kaggle's
  download: ``img_align_celeba/img_align_celeba/000001.jpg``), or a folder holding it;
- torchvision's ``celeba`` root (``ROOT/celeba/img_align_celeba/`` and ``list_eval_partition.txt``).

``attributes`` labels the faces with columns of ``list_attr_celeba.txt`` (official, torchvision) or
``list_attr_celeba.csv`` (Kaggle), found where the partition file is.

``split`` selects train / valid / test through ``list_eval_partition.txt`` (official, torchvision) or
``list_eval_partition.csv`` (Kaggle), found beside the images or in the archive. CelebA cannot be
downloaded automatically (its hosting requires accepting terms); when it is not on disk the error says
where ganlab looked and how to get it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Literal

from ..common.config import param
from ..common.errors import DataError
from ..common.files import unusual
from ..contracts.engine import BuildContext
from ..registry.registry import component
from .annotation_files import decode, lines, one_row_per_image, quoted
from .celeba_attributes import ATTRIBUTE_FILES, AttributeTable, choose, labels_of, parse_attributes
from .imageset import CachedImages, CachedImagesConfig
from .labelled import LabelledImages
from .sources import Source, open_source, open_zip, zip_names
from .transform import CropResize

HOW_TO_GET = (
    "CelebA is not downloaded automatically. Get 'img_align_celeba' (202,599 JPEGs, 178x218) from the "
    "official site https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive: Img/img_align_celeba.zip, "
    "and Eval/list_eval_partition.txt for splits) or from Kaggle "
    "(https://www.kaggle.com/datasets/jessicali9530/celeba-dataset), and set data.root to the zip archive, "
    "to the unzipped img_align_celeba/ folder, or to the folder that holds either."
)
IMAGES = "img_align_celeba"
PARTITION_FILES = ("list_eval_partition.txt", "list_eval_partition.csv")
SPLIT_CODES = {"train": "0", "valid": "1", "test": "2"}


@dataclasses.dataclass(kw_only=True)
class CelebAConfig(CachedImagesConfig):
    root: str = param(
        "data/celeba",
        "img_align_celeba/ or img_align_celeba.zip, or a folder holding either (torchvision's celeba root too)",
    )
    split: Literal["all", "train", "valid", "test"] = param(
        "all", "official partition (needs list_eval_partition.txt or .csv): train, valid, test, or all"
    )
    crop: int = param(178, "side of the centre crop before resizing (178 is the standard CelebA crop)", min=0)
    attributes: list[str] = param(
        [],
        'CelebA attributes to label the faces with, e.g. ["Smiling", '
        '"Eyeglasses"] (needs list_attr_celeba.txt or .csv); empty: unlabelled',
    )


def _has_jpeg(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == ".jpg" for p in folder.iterdir())


def locate(root: Path) -> tuple[Path, list[Path]]:
    """The images folder or archive under ``root``, and where to look for the partition file."""
    problem = unusual(root)
    if problem is not None:
        raise DataError(f"data.root: {str(root)!r} {problem}. {HOW_TO_GET}")
    if root.is_file():
        return root, [root.parent]
    folders = [root / IMAGES, root / IMAGES / IMAGES, root / "celeba" / IMAGES, root]
    for folder in folders:
        if _has_jpeg(folder):
            return folder, [folder.parent, folder.parent.parent, root]
    for archive in (root / f"{IMAGES}.zip", root / "celeba" / f"{IMAGES}.zip"):
        if archive.is_file():
            return archive, [archive.parent]
    looked = [*folders, root / f"{IMAGES}.zip", root / "celeba" / f"{IMAGES}.zip"]
    raise DataError(
        f"data.root: no CelebA images found at {str(root)!r} (looked for "
        f"{', '.join(repr(str(p)) for p in looked)}). {HOW_TO_GET}"
    )


def parse_partition(data: bytes, where: str) -> dict[str, str]:
    """``{"000001.jpg": "0", ...}`` from the official whitespace-separated or Kaggle's CSV partition file; an
    image listed twice as :func:`~.annotation_files.one_row_per_image` reads it."""

    def rows() -> Iterator[tuple[int, str, str]]:
        for line in lines(decode(data, where, "data.split")):
            number, _, fields = line
            if fields[0] == "image_id":
                continue
            if len(fields) != 2 or fields[1] not in SPLIT_CODES.values():
                raise DataError(
                    f"data.split: {where} line {number} is not 'IMAGE PARTITION' with partition "
                    f"0, 1 or 2: {quoted(line)}"
                )
            yield number, fields[0], fields[1]

    return one_row_per_image(
        rows(),
        "data.split",
        where,
        lambda first, again: None if first == again else f"its partition ({first} and {again})",
    )


def companion_paths(folders: list[Path], file_names: tuple[str, ...]) -> list[Path]:
    """Where a file that comes with the images (partition, attributes) may lie, in the order looked at."""
    return [folder / name for folder in dict.fromkeys(folders) for name in file_names]


def read_companion(images: Path, folders: list[Path], file_names: tuple[str, ...]) -> tuple[bytes, str] | None:
    """The bytes of the first of ``file_names`` in the archive ``images`` or in ``folders``, and where it
    was (``archive:member`` or the path); None when there is none."""
    if images.is_file():
        members = sorted((n for n in zip_names(images) if PurePosixPath(n).name in file_names), key=len)
        if members:
            with open_zip(images) as handle:
                return handle.read(members[0]), f"{images}:{members[0]}"
    for path in companion_paths(folders, file_names):
        if path.is_file():
            return path.read_bytes(), str(path)
    return None


def read_partition(images: Path, folders: list[Path]) -> dict[str, str]:
    found = read_companion(images, folders, PARTITION_FILES)
    if found is None:
        candidates = companion_paths(folders, PARTITION_FILES)
        raise DataError(
            f"data.split: a split other than 'all' needs CelebA's list_eval_partition.txt (or "
            f"Kaggle's .csv); none found at {', '.join(repr(str(p)) for p in candidates)} or in "
            f'the archive. Put it beside the images or set data.split = "all".'
        )
    return parse_partition(*found)


def read_attributes(images: Path, folders: list[Path]) -> AttributeTable:
    found = read_companion(images, folders, ATTRIBUTE_FILES)
    if found is None:
        candidates = companion_paths(folders, ATTRIBUTE_FILES)
        raise DataError(
            f"data.attributes: labels need CelebA's list_attr_celeba.txt (Google Drive: "
            f"Anno/list_attr_celeba.txt, or Kaggle's list_attr_celeba.csv); none found at "
            f"{', '.join(repr(str(p)) for p in candidates)} or in the archive. Put it beside the "
            f"images or leave data.attributes empty."
        )
    return parse_attributes(*found)


def find_images(config: CelebAConfig) -> Source:
    images, partition_folders = locate(Path(config.root).expanduser())
    keep = None
    if config.split != "all":
        code = SPLIT_CODES[config.split]
        keep = {name for name, split in read_partition(images, partition_folders).items() if split == code}

    def select(names: list[str]) -> list[str]:
        chosen = []
        for name in names:
            path = PurePosixPath(name)
            in_images = path.parent.name == IMAGES if images.is_file() else len(path.parts) == 1
            if in_images and path.suffix.lower() == ".jpg" and (keep is None or path.name in keep):
                chosen.append(name)
        return sorted(chosen)

    try:
        return open_source(images, select)
    except DataError as e:
        raise DataError(f"{e} (split {config.split!r}). {HOW_TO_GET}") from None


@component(
    "dataset",
    "celeba",
    config=CelebAConfig,
    help="CelebA aligned & cropped faces: folder, zip (official or Kaggle) or torchvision root; "
    "centre crop 178 + resize, cached",
)
def build(config: CelebAConfig, context: BuildContext) -> CachedImages:
    source = find_images(config)
    transform = CropResize(config.image_size, config.crop, config.resize_filter)
    if not config.attributes:
        return CachedImages(source, transform, config)
    table = read_attributes(*locate(Path(config.root).expanduser()))
    space, columns = choose(table, config.attributes)
    labels = labels_of(table, columns, [PurePosixPath(name).name for name in source.names])
    return LabelledImages(source, transform, config, space, labels)
