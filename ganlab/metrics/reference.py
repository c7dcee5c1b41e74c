"""The real images a metric compares against, and the fingerprint that names them in caches and protocols.

A reference set is the training data (``reference = "data"``) or a folder of images read by the
``image-folder`` data set at the training image size (centre square crop, then resize). Its fingerprint
covers what changes the pixels: the data set's own ``describe()`` (source, transform, image size, crop),
a signature of the files at the source (sizes and modification times), how many images are drawn and the
seed that draws them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError
from ..protocols import ImageDataset
from ..data.folder import ImageFolder, ImageFolderConfig

TRAINING_DATA = "data"


def sample_images(dataset: ImageDataset, num: int, seed: int) -> torch.Tensor:
    """``num`` distinct images of ``dataset`` as uint8 (N, C, H, W), the same ones for the same seed."""
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num]
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None:
        return get_batch(indices)
    return torch.stack([dataset[int(i)] for i in indices])


def source_signature(source: Any) -> str | None:
    """Sizes and modification times of the files at ``source`` (a path), so edited data is noticed."""
    if not isinstance(source, str) or not source:
        return None
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            digest.update(f"{os.path.relpath(os.path.join(root, name), path)}:{stat.st_size}:"
                          f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class ReferenceSample:
    """``count`` images drawn with ``seed`` from ``dataset``; drawing them is deferred to :meth:`images`."""

    dataset: ImageDataset
    count: int
    seed: int

    def fingerprint(self) -> str:
        data = self.dataset.describe()
        details = {"data": data, "files": source_signature(data.get("source")), "drawn": self.count,
                   "sample_seed": self.seed}
        return hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest()

    def label(self) -> str:
        d = self.dataset.describe()
        return f"{d.get('source', '?')} ({self.count} of {len(self.dataset)} images, {d.get('image_size', '?')}px)"

    def images(self) -> torch.Tensor:
        return sample_images(self.dataset, self.count, self.seed)


def open_reference(reference: str, image_size: int) -> ImageDataset | None:
    """The folder named by a hook's ``reference`` setting, or ``None`` for the training data."""
    if reference == TRAINING_DATA:
        return None
    try:
        return ImageFolder(ImageFolderConfig(root=reference, image_size=image_size, crop=0))
    except DataError as e:
        raise ConfigError("reference", f"{e} (use \"data\" for the training images)") from None


def reference_sample(folder: ImageDataset | None, training: ImageDataset, count: int, seed: int
                     ) -> ReferenceSample:
    """``count`` (at most all) images of the reference folder, or of the training data when it is None."""
    dataset = folder if folder is not None else training
    return ReferenceSample(dataset, min(count, len(dataset)), seed)
