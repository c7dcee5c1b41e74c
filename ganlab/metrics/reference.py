"""The real images a metric compares against, and the fingerprint that names them in caches and protocols.

An evaluator's ``reference`` setting names them:

- ``"auto"`` (the default): the images the training data set holds back from training (its optional
  ``held_out()``, which ``image-folder`` and ``celeba`` offer when ``data.num_images`` trains on a subset),
  else the training data. A generator that copies its few training images scores best against those very
  images, so a small-data run is scored against real images it never saw; a run on all of its data is
  scored as with ``"data"``, under the same fingerprint.
- ``"held-out"``: the held-out images, and a recipe error before training where the data set has none.
- ``"data"``: the training data, a subset included.
- anything else: a folder or zip archive of images read by the ``image-folder`` data set at the training
  image size (centre square crop, then resize).

A reference's fingerprint covers what changes the pixels: the data set's own ``describe()`` (source, its
files' fingerprint, transform, image size, which part of its source it is), how many images are drawn and
the seed that draws them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator

import torch

from ..common.errors import ConfigError, DataError
from ..contracts.engine import BuildContext, ImageDataset
from ..data.folder import ImageFolderConfig
from ..data.folder import build as image_folder

AUTO = "auto"
HELD_OUT = "held-out"
TRAINING_DATA = "data"


def sample_indices(dataset: ImageDataset, num: int, seed: int) -> torch.Tensor:
    """The positions in ``dataset`` of :func:`sample_images`'s images, in its order."""
    return torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num]


def images_at(dataset: ImageDataset, indices: torch.Tensor) -> torch.Tensor:
    """The images of ``dataset`` at ``indices`` as uint8 (N, C, H, W), through ``get_batch`` where the data
    set has it."""
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None:
        return get_batch(indices)
    return torch.stack([dataset[int(i)] for i in indices])


def sample_images(dataset: ImageDataset, num: int, seed: int) -> torch.Tensor:
    """``num`` distinct images of ``dataset`` as uint8 (N, C, H, W), the same ones for the same seed."""
    return images_at(dataset, sample_indices(dataset, num, seed))


@dataclasses.dataclass(frozen=True)
class ReferenceSample:
    """``count`` images drawn with ``seed`` from ``dataset``; drawing them is deferred to :meth:`images`."""

    dataset: ImageDataset
    count: int
    seed: int

    def fingerprint(self) -> str:
        details = {"data": self.dataset.describe(), "drawn": self.count, "sample_seed": self.seed}
        return hashlib.sha256(json.dumps(details, sort_keys=True, default=str).encode()).hexdigest()

    def label(self) -> str:
        """Readable: ``held-out of /data/faces (100 of 1500 images, 64px)``, the part named where the data
        set is a part of its source."""
        d = self.dataset.describe()
        part = f"{d['part']} of " if "part" in d else ""
        return (
            f"{part}{d.get('source', '?')} ({self.count} of {len(self.dataset)} images, {d.get('image_size', '?')}px)"
        )

    def images(self) -> torch.Tensor:
        return sample_images(self.dataset, self.count, self.seed)

    def indices(self) -> torch.Tensor:
        """Where each image of :meth:`images` is in the data set: row i of the sample's features is image
        ``indices()[i]``, so a metric can name (and show) the real image behind a feature."""
        return sample_indices(self.dataset, self.count, self.seed)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The images of :meth:`images`, in the same order, ``batch_size`` at a time: a large reference set
        at its stored size need never be in memory whole."""
        indices = self.indices()
        for start in range(0, len(indices), batch_size):
            yield images_at(self.dataset, indices[start : start + batch_size])


def held_out_images(dataset: ImageDataset | None) -> ImageDataset | None:
    """The images ``dataset`` holds back from training (its optional ``held_out()``); None for none."""
    offer = getattr(dataset, "held_out", None)
    return offer() if offer is not None else None


def open_reference(reference: str, context: BuildContext) -> ImageDataset | None:
    """The images an evaluator's ``reference`` setting names (the module docstring says how), or ``None`` for the
    training data. Raises ConfigError on ``reference`` for a folder that cannot be read, and for
    ``"held-out"`` where ``context.dataset`` holds no images back."""
    if reference == TRAINING_DATA:
        return None
    if reference in (AUTO, HELD_OUT):
        held_out = held_out_images(context.dataset)
        if held_out is None and reference == HELD_OUT:
            raise ConfigError(
                "reference",
                '"held-out" scores against the images the data set holds back '
                "from training, and it holds none back: train image-folder or "
                "celeba on a subset (data.num_images below their image count), "
                'or use "auto" or "data" (the training images)',
            )
        return held_out
    try:
        return image_folder(ImageFolderConfig(root=reference, image_size=context.image_size), context)
    except DataError as e:
        raise ConfigError(
            "reference", f'{e} (use "auto", "held-out" or "data" for the data set\'s own images)'
        ) from None


def reference_sample(folder: ImageDataset | None, training: ImageDataset, count: int, seed: int) -> ReferenceSample:
    """``count`` (at most all) images of the reference set :func:`open_reference` opened (a folder, the
    held-out images), or of the training data when it is None."""
    dataset = folder if folder is not None else training
    return ReferenceSample(dataset, min(count, len(dataset)), seed)
