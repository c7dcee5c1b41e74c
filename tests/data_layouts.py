"""Tiny image files in the layouts users really have, for the data tests.

The images are synthetic faces at CelebA's aspect ratio (40 wide, 48 high; crop 40 -> 16), each one
different, so tests can tell images and their order apart.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import TINY_RECIPE
from ganlab.common import tomlwrite
from ganlab.data.synthetic import draw_faces

WIDTH, HEIGHT = 40, 48


def jpeg_bytes(count: int, seed: int = 0, fmt: str = "JPEG") -> list[bytes]:
    faces = draw_faces(count, HEIGHT, seed).transpose(0, 2, 3, 1)[:, :, 4 : 4 + WIDTH]
    out = []
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(face)).save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        out.append(buffer.getvalue())
    return out


def celeba_names(count: int) -> list[str]:
    return [f"{i:06d}.jpg" for i in range(1, count + 1)]


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def write_zip(archive: Path, files: dict[str, bytes]) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data in files.items():
            handle.writestr(name, data)
    return archive


def celeba_files(count: int, prefix: str = "") -> dict[str, bytes]:
    return {prefix + name: data for name, data in zip(celeba_names(count), jpeg_bytes(count))}


def partition_text(splits: list[int]) -> str:
    """The official list_eval_partition.txt for images 1..len(splits)."""
    return "".join(f"{name} {split}\n" for name, split in zip(celeba_names(len(splits)), splits))


def write_recipe_with_data(path: Path, data: dict, **train) -> Path:
    """The tiny test recipe with its whole [data] section replaced by ``data`` (and [train] keys updated)."""
    recipe = {**TINY_RECIPE, "data": data, "train": {**TINY_RECIPE["train"], **train}}
    path.write_text(tomlwrite.dumps(recipe), "utf-8")
    return path


CELEBA_ATTRIBUTES = ("5_o_Clock_Shadow", "Eyeglasses", "Male", "Smiling", "Young")
"""A few of CelebA's 40 attribute names, in the file's order (the parser takes any number)."""


def attribute_rows(count: int) -> list[list[int]]:
    """-1/1 values for images 1..count: attribute a is 1 for every third image from image 3 - a, so each
    image's row differs from its neighbours' and each attribute's column from the next one's."""
    return [[1 if (i + a) % 3 == 0 else -1 for a in range(len(CELEBA_ATTRIBUTES))] for i in range(1, count + 1)]


def attribute_txt(rows: list[list[int]]) -> str:
    """The official list_attr_celeba.txt: the count, the names, then rows padded with runs of spaces."""
    lines = [str(len(rows)), " ".join(CELEBA_ATTRIBUTES)]
    lines += [name + "".join(f"{v:>3}" for v in row) for name, row in zip(celeba_names(len(rows)), rows)]
    return "\n".join(lines) + "\n"


def attribute_csv(rows: list[list[int]]) -> str:
    """Kaggle's list_attr_celeba.csv."""
    lines = ["image_id," + ",".join(CELEBA_ATTRIBUTES)]
    lines += [name + "," + ",".join(str(v) for v in row) for name, row in zip(celeba_names(len(rows)), rows)]
    return "\n".join(lines) + "\n"
