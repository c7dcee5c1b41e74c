"""Cached images with a label per image: the labels are kept by file name beside the pixel cache, not in
it, so choosing other attributes reuses the same cache and a skipped unreadable file drops its label too."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..common.labels import LabelSpace
from .imageset import CachedImages, CachedImagesConfig
from .sources import Source
from .transform import CropResize


class LabelledImages(CachedImages):
    """:class:`CachedImages` plus ``label_space`` and ``labels`` (int64 ``(len, A)``, row i = image i).

    ``source_labels`` has a row per name of the whole ``source``: the label space is the whole source's,
    whichever images a subset keeps."""

    def __init__(
        self,
        source: Source,
        transform: CropResize,
        config: CachedImagesConfig,
        label_space: LabelSpace,
        source_labels: np.ndarray,
    ):
        super().__init__(source, transform, config)
        self.label_space = label_space
        rows = {name: row for row, name in enumerate(source.names)}
        self.source_labels = source_labels[[rows[name] for name in self.source.names]]
        """One row per name of ``self.source.names`` (the training subset, when ``num_images`` takes one),
        unreadable files included."""
        self._labels: torch.Tensor | None = None

    @property
    def labels(self) -> torch.Tensor:
        """The labels of the cached images: the source's, less those of the files the cache skipped."""
        if self._labels is None:
            skipped = {s.name for s in self.prepare().skipped}
            kept = [i for i, name in enumerate(self.source.names) if name not in skipped]
            self._labels = torch.from_numpy(self.source_labels[kept])
        return self._labels

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.label_space.to_dict()}

    def preview(self) -> dict[str, Any]:
        return {**super().preview(), **self.label_space.to_dict()}
