"""The preprocessed image cache: every image decoded, cropped and resized once, then read as raw rows.

A cache is a folder ``<cache root>/<fingerprint>/`` holding ``images.u8`` (N x 3 x H x W uint8, row after
row, no header), ``meta.json`` (count, shape, source, transform, the files that could not be read) and
``skipped.txt`` (those files again, one per line, for people).
The fingerprint hashes the source's fingerprint and the transform, so a changed file, archive, crop,
size or filter gives a new cache and nothing else does.

Building streams: worker processes decode chunks of images and the parent appends each finished chunk
to the file, so memory stays flat whatever the data set's size. It happens in a hidden temporary folder
beside the final one, which is renamed into place only when complete: an interrupted or failed build
leaves nothing under the fingerprint's name, so no later run can pick up half a cache, and a build killed
too abruptly to clean up after itself leaves a folder the next run sweeps away (``build_folders``).

Reading gathers rows with plain positioned reads into one output array; nothing is memory-mapped, so a
training process's memory does not grow with the data set either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import UnidentifiedImageError

from ..common.errors import DataError
from ..common.files import read_json
from ..machine import signals
from .build_folders import BuildFolder
from .sources import Source
from .transform import CropResize

CACHE_FORMAT = 1
"""Bumped whenever the file layout or the decode changes, so old caches are never misread."""

CHUNK = 64
"""Images per worker task: large enough to amortise inter-process traffic, small enough to stream."""


def default_cache_root() -> Path:
    """``$GANLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganlab/data``, else ``~/.cache/ganlab/data``."""
    if os.environ.get("GANLAB_CACHE_DIR"):
        return Path(os.environ["GANLAB_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganlab" / "data"


def fingerprint(source: Source, transform: CropResize) -> str:
    """Identifies the cache's content: the source's files and the transform that made the pixels."""
    key = {"format": CACHE_FORMAT, "source": source.fingerprint(), "transform": transform.describe()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


@dataclasses.dataclass(frozen=True)
class Skipped:
    """An image that could not be decoded, and why."""

    name: str
    reason: str


class ImageCache:
    """A finished cache on disk, read by row."""

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.meta = meta
        self.count: int = meta["count"]
        self.shape: tuple[int, int, int] = tuple(meta["shape"])
        self.row_bytes = int(np.prod(self.shape))
        self.skipped = [Skipped(name, reason) for name, reason in meta["skipped"]]
        self._file = open(path / "images.u8", "rb", buffering=0)

    @property
    def nbytes(self) -> int:
        return self.count * self.row_bytes

    @classmethod
    def open(cls, path: Path) -> ImageCache | None:
        """The cache at ``path``, or None if none was ever completed there."""
        meta_path = path / "meta.json"
        if not meta_path.exists():
            return None
        damaged = f"the data cache {str(path)!r} is damaged"
        try:
            meta = read_json(meta_path)
            size = (path / "images.u8").stat().st_size
            expected = meta["count"] * int(np.prod(meta["shape"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{damaged} ({type(e).__name__}: {e}); delete that folder and it will be rebuilt") from None
        if size != expected:
            raise DataError(
                f"{damaged} (images.u8 holds {size} bytes, meta.json expects {expected}); delete "
                "that folder and it will be rebuilt"
            )
        return cls(path, meta)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` (any order, repeats allowed) as uint8 (N, 3, H, W)."""
        out = np.empty((len(indices), *self.shape), dtype=np.uint8)
        view = memoryview(out).cast("B")
        size = self.row_bytes
        for i, index in enumerate(np.asarray(indices, dtype=np.int64).tolist()):
            if not 0 <= index < self.count:
                raise IndexError(f"image {index} is outside the cache's {self.count} images")
            self._read_into(view[i * size : (i + 1) * size], index * size)
        return out

    def close(self) -> None:
        """Close the file the rows are read from; a closed cache reads nothing more."""
        self._file.close()

    def _read_into(self, buffer: memoryview, offset: int) -> None:
        if hasattr(os, "preadv"):  # one system call per row (Linux, BSD, recent macOS)
            os.preadv(self._file.fileno(), [buffer], offset)
        else:
            self._file.seek(offset)
            self._file.readinto(buffer)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` in one read: the fast path for copying the whole cache elsewhere."""
        out = np.empty((stop - start, *self.shape), dtype=np.uint8)
        self._file.seek(start * self.row_bytes)
        self._file.readinto(memoryview(out).cast("B"))
        return out


# -- building ---------------------------------------------------------------------------------------------
_worker: tuple[Source, CropResize] | None = None


def _init_worker(source: Source, transform: CropResize) -> None:
    global _worker
    _worker = (source, transform)


def _init_pool_worker(source: Source, transform: CropResize) -> None:
    signals.leave_stopping_to_parent()
    _init_worker(source, transform)


def _decode_chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, list[Skipped]]:
    """Decode images ``bounds[0]:bounds[1]`` of the worker's source; failures are reported, not raised."""
    source, transform = _worker
    images, skipped = [], []
    for name in source.names[bounds[0] : bounds[1]]:
        try:
            images.append(transform(source.read(name)))
        except UnidentifiedImageError:
            skipped.append(Skipped(name, "not an image Pillow can read"))
        except Exception as e:  # a corrupt or truncated file, whatever Pillow raises for it
            skipped.append(Skipped(name, f"{type(e).__name__}: {e}"))
    shape = (0, 3, transform.size, transform.size)
    return (np.stack(images) if images else np.empty(shape, np.uint8)), skipped


def _decoded_chunks(source: Source, transform: CropResize, workers: int) -> Iterator[tuple[np.ndarray, list[Skipped]]]:
    """Chunks in source order, decoded in ``workers`` processes (in this one when 1)."""
    bounds = [(start, min(start + CHUNK, len(source.names))) for start in range(0, len(source.names), CHUNK)]
    workers = min(workers, len(bounds))
    if workers <= 1:
        _init_worker(source, transform)
        yield from map(_decode_chunk, bounds)
        return
    with multiprocessing.Pool(workers, _init_pool_worker, (source, transform)) as pool:
        yield from pool.imap(_decode_chunk, bounds)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def build_memory(image_size: int, workers: int) -> int:
    """Host memory that building a cache of ``image_size`` images with ``workers`` decoding processes (0:
    every core) takes at once: each decoder's chunk as decoded and as stacked, and the chunk the building
    process receives and writes out, with its copy as bytes."""
    return (2 * (workers or available_cores()) + 2) * CHUNK * 3 * image_size**2


def build_cache(
    path: Path, source: Source, transform: CropResize, workers: int = 0, progress: bool | None = None
) -> ImageCache:
    """Decode ``source`` through ``transform`` into a new cache at ``path`` (``workers`` 0: every core).

    ``progress`` None shows a progress bar only when standard error is a terminal.
    """
    from tqdm.auto import tqdm

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build = BuildFolder(path)
    except OSError as e:
        raise DataError(
            f"cannot write the data cache in {str(path.parent)!r} ({e.strerror or e}); set "
            "data.cache_dir or GANLAB_CACHE_DIR to a writable folder"
        ) from None
    started = time.monotonic()
    try:
        with build:
            count, skipped = 0, []
            with (
                open(build.path / "images.u8", "wb") as out,
                tqdm(
                    total=len(source.names),
                    unit="img",
                    desc=f"caching {source.location}",
                    file=sys.stderr,
                    disable=None if progress is None else not progress,
                    dynamic_ncols=True,
                ) as bar,
            ):
                for images, bad in _decoded_chunks(source, transform, workers or available_cores()):
                    out.write(np.ascontiguousarray(images).tobytes())
                    count += len(images)
                    skipped.extend(bad)
                    bar.update(len(images) + len(bad))
                    signals.raise_if_stopped()  # a stop Python discarded while the decoders started
                out.flush()
                os.fsync(out.fileno())
            meta = {
                "format": CACHE_FORMAT,
                "count": count,
                "shape": [3, transform.size, transform.size],
                "source": source.location,
                "files": len(source.names),
                "transform": transform.describe(),
                "skipped": [[s.name, s.reason] for s in skipped],
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "build_seconds": round(time.monotonic() - started, 3),
            }
            listing = "".join(f"{s.name}\t{s.reason}\n" for s in skipped)
            (build.path / "skipped.txt").write_text(listing, "utf-8")
            (build.path / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")
            build.publish()
    except OSError as e:  # writing the cache failed (a full disk, say); reading images never raises here
        raise DataError(f"could not write the data cache in {str(path.parent)!r}: {e.strerror or e}") from None
    return ImageCache.open(path)


def cache_size(path: Path) -> int | None:
    """Bytes on disk of the finished cache at ``path``; None when it has not been built."""
    if not (path / "meta.json").exists():
        return None
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
