"""Batches of uint8 images in a seeded order that is a pure function of (seed, epoch).

Because the order of epoch ``e`` depends only on the seed and ``e``, a resumed run can start at any
batch of any epoch and see exactly the batches an uninterrupted run would have seen.

A data set that gathers batches itself (``get_batch``: an in-memory array or the preprocessed cache) can
also be copied whole onto the training device once, so that each batch is one index operation in device
memory and the host does no work per step. ``train.data_on_device`` decides: ``auto`` does it on an
accelerator when the data takes at most half of its free memory, ``always`` on any device (or fails
before training), ``never`` not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal, NamedTuple

import torch
from torch.utils.data import DataLoader

from ..common.errors import DataError
from ..contracts.engine import ImageDataset
from ..machine.memory import available_host_memory

log = logging.getLogger("ganlab.data")

Residency = Literal["auto", "always", "never"]
COPY_CHUNK = 4096
"""Images per host-to-device copy while filling the device-resident copy: bounds the host memory used."""

CPU = torch.device("cpu")
"""Where batches go unless the loader is told otherwise."""


def free_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``; None when the backend does not say."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "mps":  # unified memory: what Metal recommends, less what is already taken
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    if device.type == "cpu":
        return available_host_memory()
    return None


def to_device(dataset: ImageDataset, device: torch.device) -> torch.Tensor:
    """The whole data set as one uint8 tensor on ``device``, filled chunk by chunk."""
    n = len(dataset)
    out = torch.empty((n, dataset.channels, dataset.image_size, dataset.image_size), dtype=torch.uint8, device=device)
    for start in range(0, n, COPY_CHUNK):
        stop = min(start + COPY_CHUNK, n)
        out[start:stop] = dataset.get_batch(torch.arange(start, stop)).to(device)
    return out


def goes_to_device(dataset: ImageDataset, device: torch.device, residency: Residency) -> bool:
    """Whether ``residency`` asks for the data set on ``device`` and it fits there.

    Raises :class:`DataError` when ``always`` cannot be honoured, so that the check pass before a run
    directory exists refuses such a recipe as the loader would.
    """
    if residency == "never" or (residency == "auto" and device.type == "cpu"):
        return False
    if not hasattr(dataset, "get_batch"):
        if residency == "always":
            raise DataError(
                "train.data_on_device: 'always' needs a data set that gathers batches itself "
                f"(get_batch); {type(dataset).__name__} decodes per image"
            )
        return False
    needed = len(dataset) * dataset.channels * dataset.image_size**2
    free = free_memory(device)
    if free is None and residency == "auto":
        log.info("ganlab: data stays in host memory: %s does not say how much memory is free", device)
        return False
    if free is not None and needed > free // 2:
        message = (
            f"the data set needs {needed / 2**30:.2f} GiB, more than half of the {free / 2**30:.2f} GiB "
            f"free on {device}"
        )
        if residency == "always":
            raise DataError(f"train.data_on_device: 'always', but {message}")
        log.info("ganlab: data stays in host memory: %s", message)
        return False
    return True


def resident_copy(dataset: ImageDataset, device: torch.device, residency: Residency) -> torch.Tensor | None:
    """The data set on ``device`` if ``residency`` asks for it and it fits, else None."""
    return to_device(dataset, device) if goes_to_device(dataset, device, residency) else None


class Batch(NamedTuple):
    """One batch of images, uint8 (N, C, H, W), and their labels, int64 (N, A), or None for unlabelled data."""

    images: torch.Tensor
    labels: torch.Tensor | None


class BatchLoader:
    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        seed: int,
        num_workers: int = 0,
        shard: tuple[int, int] = (0, 1),
        device: torch.device = CPU,
        residency: Residency = "never",
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.rank, self.world_size = shard
        self.seed = seed
        self.num_workers = num_workers
        self.resident = resident_copy(dataset, device, residency)
        labels = getattr(dataset, "labels", None) if getattr(dataset, "label_space", None) is not None else None
        self.labels = labels.to(self.resident.device) if labels is not None and self.resident is not None else labels
        # batches from host memory are pinned for a GPU, so the engine's non-blocking copy overlaps compute
        self.pin = device.type == "cuda" and self.resident is None
        self._batches = _EpochBatches()
        self._loader: DataLoader | None = None

    def __len__(self) -> int:
        """Full batches per epoch; the remainder of a shuffled epoch is left out, as DCGAN recipes do."""
        return len(self.dataset) // self.batch_size

    def order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.dataset), generator=generator)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch`` from batch index ``start`` on, each uint8 (N, C, H, W) with its labels.

        With several processes (``shard`` = (rank, world size)) each global batch is split into equal
        consecutive parts, so together the processes see exactly the batches of a single process.
        """
        order = self.order(epoch) if self.resident is None else self.order(epoch).to(self.resident.device)
        part = self.batch_size // self.world_size
        chunks = [
            order[i * self.batch_size + self.rank * part : i * self.batch_size + (self.rank + 1) * part]
            for i in range(start, len(self))
        ]
        if self.resident is not None:
            for indices in chunks:
                yield Batch(self.resident[indices], self._labels(indices))
            return
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            for indices in chunks:
                batch = get_batch(indices)
                yield Batch(batch.pin_memory() if self.pin else batch, self._labels(indices))
            return
        for indices, images in zip(chunks, self._per_item(chunks)):
            yield Batch(images, self._labels(indices))

    def _per_item(self, chunks: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        """The batches ``chunks`` of a data set read image by image, by one DataLoader kept for the whole
        run, so that its worker processes start once rather than every epoch (a tenth of a second or more
        each time, before the epoch's first batch). Each epoch draws from torch's global generator what a
        new DataLoader would draw, so the random numbers the rest of training sees are the same either way;
        the images are a function of their index (``train.num_workers`` may change on resume), so the
        workers' own seeds, set once, decide nothing."""
        self._batches.chunks = [c.tolist() for c in chunks]
        if self._loader is None:
            self._loader = DataLoader(
                self.dataset,
                batch_sampler=self._batches,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=self.pin,
            )
        elif self.num_workers > 0:
            torch.empty((), dtype=torch.int64).random_()  # the seed a new DataLoader would have drawn
        return iter(self._loader)

    def close(self) -> None:
        """Stop the worker processes, if any are running (a later epoch starts new ones)."""
        loader, self._loader = self._loader, None
        if loader is not None and loader._iterator is not None:
            loader._iterator._shutdown_workers()

    def _labels(self, indices: torch.Tensor) -> torch.Tensor | None:
        """The labels of the images at ``indices``, where they are kept (on the device with resident data)."""
        if self.labels is None:
            return None
        labels = self.labels[indices]
        return labels.pin_memory() if self.pin else labels


class _EpochBatches:
    """The batch sampler of :meth:`BatchLoader._per_item`'s DataLoader: the index lists of the epoch it is
    serving, set before each epoch's iteration starts (which is when the DataLoader reads them)."""

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)
