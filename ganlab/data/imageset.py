"""A data set of real images served from the preprocessed cache, which is built on first use.

``image-folder`` and ``celeba`` differ only in how they find their files; both end here. Finding the
files (and every error about a missing path or an empty folder) happens when the data set is built, so
``ganlab validate`` reports it; decoding happens once, the first time the images are needed.

With ``num_images`` a data set trains on a seeded random subset of its source (:mod:`.subset`) and offers
the rest through ``held_out()``, read through the cache the same way: the real images the metric evaluators
score a small-data run against.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..common.config import param, seed_param
from ..common.errors import DataError
from ..contracts.engine import BuildContext
from ..machine.memory import Need
from .build_folders import Swept, sweep
from .cache import (
    CHUNK,
    ImageCache,
    Skipped,
    available_cores,
    build_cache,
    build_memory,
    cache_size,
    default_cache_root,
    fingerprint,
)
from .sources import Source
from .subset import Split, split_source
from .transform import CropResize, Filter

log = logging.getLogger("ganlab.data")

SHOWN_SKIPPED = 10
"""Unreadable files named in the warning; the full list is in the cache folder's skipped.txt."""


def _report_swept(swept: list[Swept]) -> None:
    """Name what was deleted and the space it freed, so disappearing folders and disk space are explained."""
    if swept:
        folders = ", ".join(f"{s.path.name} ({s.size / 2**20:.1f} MiB)" for s in swept)
        log.warning(
            "ganlab: warning: data: removed %d unfinished cache build(s) in %s left by processes that "
            "died, freeing %.1f MiB: %s",
            len(swept),
            swept[0].path.parent,
            sum(s.size for s in swept) / 2**20,
            folders,
        )


@dataclasses.dataclass(kw_only=True)
class CachedImagesConfig:
    """Settings shared by every data set read through the cache."""

    image_size: int = param(64, "side of the square training images in pixels", min=8, max=16384)
    resize_filter: Filter = param("bicubic", "resampling filter for the resize")
    on_bad_image: Literal["skip", "fail"] = param(
        "skip", "corrupt, truncated or non-image files: skip them with a warning, or fail"
    )
    cache_dir: str = param("", "folder for preprocessed caches; empty: $GANLAB_CACHE_DIR or ~/.cache/ganlab/data")
    workers: int = param(0, "processes that build the cache; 0 uses every core", min=0, max=256)
    num_images: int = param(
        0,
        "train on this many of the images (of the split, for celeba), a random subset "
        "chosen by subset_seed; the rest are held out, and metric evaluators score against "
        "them; 0: train on all",
        min=0,
    )
    subset_seed: int = seed_param(
        0, "seed choosing the num_images subset: the same seed and files always choose the same images"
    )

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """What building the cache takes (a cache built before needs nothing, but which one is not known
        before the files are listed)."""
        decoders = self.workers or available_cores()
        return [
            Need(
                "image_size",
                f"decoding {CHUNK} images of 3x{self.image_size}x{self.image_size} at a time "
                f"in each of {decoders} processes",
                build_memory(self.image_size, decoders),
            )
        ]

    def cache_root(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_root()


class CachedImages:
    """uint8 images gathered from the cache; ``get_batch`` reads a whole batch in one call.

    ``source`` is every image the data set may use; ``config.num_images`` trains on a subset of it, and
    ``self.source`` is then that subset.
    """

    def __init__(self, source: Source, transform: CropResize, config: CachedImagesConfig):
        self.split = split_source(source, config.num_images, config.subset_seed)
        self.source = self.split.training if self.split is not None else source
        self.transform = transform
        self.config = config
        self.image_size = transform.size
        self.channels = 3
        self.fingerprint = fingerprint(self.source, transform)
        self.cache_path = config.cache_root() / self.fingerprint
        self._cache: ImageCache | None = None

    def prepare(self) -> ImageCache:
        """Open the cache, building it first if needed; applies ``on_bad_image`` to unreadable files."""
        if self._cache is None:
            _report_swept(sweep(self.cache_path.parent))
            cache = ImageCache.open(self.cache_path) or build_cache(
                self.cache_path, self.source, self.transform, self.config.workers
            )
            try:
                if cache.skipped:
                    self._report_skipped(cache.skipped)
                if cache.count == 0:
                    raise DataError(
                        f"data.root: none of the {len(self.source.names)} files in "
                        f"{self.source.location!r} could be read as an image"
                    )
            except BaseException:
                cache.close()
                raise
            self._cache = cache
        return self._cache

    def _report_skipped(self, skipped: list[Skipped]) -> None:
        listing = self.cache_path / "skipped.txt"
        names = "; ".join(f"{s.name} ({s.reason})" for s in skipped[:SHOWN_SKIPPED])
        more = f"; and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
        message = (
            f"{len(skipped)} of {len(self.source.names)} files in {self.source.location!r} are not "
            f"readable images: {names}{more} (full list: {listing})"
        )
        if self.config.on_bad_image == "fail":
            raise DataError(f"data.on_bad_image is 'fail' and {message}")
        log.warning("ganlab: warning: data: skipping %s", message)

    def __len__(self) -> int:
        return self.prepare().count

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.prepare().read(np.array([index]))[0])

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.prepare().read(indices.numpy()))

    def held_out(self) -> CachedImages | None:
        """The source's images this data set does not train on, at its image size and transform; None when
        it trains on all of them. The metric evaluators' reference by default (``reference = "auto"``)."""
        if self.split is None or not self.split.held_out.names:
            return None
        return HeldOutImages(self.split, self.transform, self.config)

    def part(self) -> dict[str, Any]:
        """Which part of the source this is, for :meth:`describe`; nothing when it is all of it (so a recipe
        without ``num_images`` keeps its caches and reference fingerprints)."""
        return self.split.describe("training subset") if self.split is not None else {}

    def describe(self) -> dict[str, Any]:
        cache = self.prepare()
        return {
            "source": self.source.location,
            "count": cache.count,
            "fingerprint": self.fingerprint,
            **self.transform.describe(),
            "skipped": len(cache.skipped),
            **self.part(),
        }

    def preview(self) -> dict[str, Any]:
        """What the data resolves to, without decoding anything: for ``ganlab data info``."""
        size = cache_size(self.cache_path)
        cached = ImageCache.open(self.cache_path) if size is not None else None
        count = cached.count if cached else "known once the cache is built"
        if cached is not None:
            cached.close()
        return {
            "source": self.source.location,
            "files": len(self.source.names),
            "fingerprint": self.fingerprint,
            **self.transform.describe(),
            "cache": str(self.cache_path),
            "cache_bytes": size if size is not None else "not built yet",
            "count": count,
            **self.part(),
        }


class HeldOutImages(CachedImages):
    """The images of a split source that its training subset leaves out, cached like any others."""

    def __init__(self, split: Split, transform: CropResize, config: CachedImagesConfig):
        super().__init__(split.held_out, transform, dataclasses.replace(config, num_images=0))
        self.held_out_of = split

    def part(self) -> dict[str, Any]:
        return self.held_out_of.describe("held-out")
