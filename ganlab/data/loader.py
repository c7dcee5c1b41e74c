"""Batches of uint8 images in a seeded order that is a pure function of (seed, epoch).

Because the order of epoch ``e`` depends only on the seed and ``e``, a resumed run can start at any
batch of any epoch and see exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader

from ..protocols import ImageDataset


class BatchLoader:
    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int, num_workers: int = 0,
                 drop_last: bool = True):
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.drop_last = drop_last

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.dataset), generator=generator)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """The batches of ``epoch`` from batch index ``start`` on, each uint8 (N, C, H, W)."""
        order = self.order(epoch)
        chunks = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(start, len(self))]
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            for indices in chunks:
                yield get_batch(indices)
            return
        loader = DataLoader(self.dataset, batch_sampler=[c.tolist() for c in chunks],
                            num_workers=self.num_workers, persistent_workers=False,
                            pin_memory=torch.cuda.is_available())
        yield from loader
