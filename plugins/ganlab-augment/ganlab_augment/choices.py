"""Reading a comma-separated list of named parts from a config string (DiffAugment's ``policy``, ADA's
``ops``), refusing at build time, before any training, a part that does not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ganlab import ConfigError


def parse_parts(key: str, text: str, known: Iterable[str]) -> tuple[str, ...]:
    """The parts named in ``text`` (``"color,translation"``), in order; a ConfigError naming ``key``, the
    unknown part, the closest known one and all known ones otherwise."""
    known = tuple(known)
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    listing = f"known parts: {', '.join(known)}"
    if not parts:
        raise ConfigError(key, f"names no part; {listing}")
    for part in parts:
        if part not in known:
            close = difflib.get_close_matches(part, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(key, f"unknown part {part!r}{hint}; {listing}")
    repeated = sorted({part for part in parts if parts.count(part) > 1})
    if repeated:
        raise ConfigError(key, f"names {', '.join(map(repr, repeated))} more than once")
    return parts
