"""Components that live in ganlab's own plugin packages, so a recipe naming one can say what to install."""

from __future__ import annotations

KNOWN: dict[tuple[str, str], str] = {}


def package_providing(kind: str, name: str) -> str | None:
    return KNOWN.get((kind, name))
