"""On-disk cache of reference-side results, so each reference set is featurised once per machine.

Entries live in ``$GANLAB_CACHE_DIR`` (default ``~/.cache/ganlab``) under ``reference/``, one file per
key, written atomically and read back with ``weights_only=True``. A key names everything the value
depends on (the reference fingerprint and the feature extractor's weights), so entries never go stale;
an unreadable entry is recomputed and replaced.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..common.atomic import atomic_write

ENV_VAR = "GANLAB_CACHE_DIR"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]+$")


def cache_root() -> Path:
    return Path(os.environ.get(ENV_VAR, "").strip() or "~/.cache/ganlab").expanduser()


class ReferenceCache:
    def __init__(self, root: Path | None = None):
        self.root = (root or cache_root()) / "reference"

    def path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key):
            raise ValueError(f"cache key {key!r} must be a plain file name")
        return self.root / f"{key}.pt"

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return None

    def store(self, key: str, value: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(value, buffer)
        atomic_write(path, lambda f: f.write(buffer.getbuffer()))

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The cached value of ``key`` and True, or ``compute()`` (then stored) and False."""
        value = self.load(key)
        if value is not None:
            return value, True
        value = compute()
        self.store(key, value)
        return value, False
