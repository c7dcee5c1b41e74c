"""A seeded random part of a source's images to train on, and the rest, held out from training.

Small-data experiments (a DCGAN on 500 faces) train on a few hundred images of a larger set. Their scores
must be made against real images the generator never saw: a generator that copies its training images
scores best against those very images. So the images left out are kept, as the held-out set the metric
evaluators score against by default (``reference = "auto"``).

Each name is ranked by the SHA-256 of the seed and the name, and the ``num_images`` first are trained on.
The choice depends on the names and the seed alone (no library's random stream, which may change between
versions), so the same files and seed choose the same subset anywhere; a larger ``num_images`` with the
same seed keeps the smaller one's images; and a file added to the source changes the subset only where it
ranks among the first.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Literal

from ..common.errors import DataError
from .sources import Source

Part = Literal["training subset", "held-out"]


@dataclasses.dataclass(frozen=True)
class Split:
    """A source parted into the ``training`` subset and the ``held_out`` rest, both sorted as sources are."""

    training: Source
    held_out: Source
    seed: int
    total: int
    """Images of the whole source."""

    def describe(self, part: Part) -> dict[str, Any]:
        """What tells a part from the whole source, and from the other part, in data caches and metric
        reference fingerprints: which part it is, the subset's size and seed, and the source's size."""
        return {
            "part": part,
            "subset_num_images": len(self.training.names),
            "subset_seed": self.seed,
            "source_images": self.total,
        }


def rank(name: str, seed: int) -> bytes:
    """Where ``name`` comes in ``seed``'s order: the subset is the names that come first."""
    return hashlib.sha256(f"{seed}\0{name}".encode()).digest()


def split_source(source: Source, num_images: int, seed: int) -> Split | None:
    """The ``num_images`` of ``source`` chosen by ``seed`` and the rest; None for ``num_images`` 0 (train on
    all of it). Raises DataError naming ``data.num_images`` when the source holds fewer images."""
    if num_images == 0:
        return None
    total = len(source.names)
    if num_images > total:
        raise DataError(
            f"data.num_images: {num_images} images asked for, but {source.location!r} holds {total}; "
            f"set at most {total}, or 0 to train on all of them"
        )
    chosen = set(sorted(source.names, key=lambda name: rank(name, seed))[:num_images])
    return Split(
        training=source.with_names([n for n in source.names if n in chosen]),
        held_out=source.with_names([n for n in source.names if n not in chosen]),
        seed=seed,
        total=total,
    )
