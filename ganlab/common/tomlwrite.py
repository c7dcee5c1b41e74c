"""Write the small subset of TOML that resolved recipes use: tables, arrays of tables, scalars, lists.

The standard library reads TOML but cannot write it; a resolved recipe must be written back so that it
runs as is, so this module is the inverse of ``tomllib`` for plain recipe values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def value_text(value: Any) -> str:
    """One TOML value as text: what ``--set KEY=`` takes, and what a recipe file holds after ``=``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {value_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")


def _is_table(value: Any) -> bool:
    """Whether ``value`` is written as a ``[table]`` of its own; an empty one is written inline (``key = {}``),
    as a setting (synthetic faces' ``frequencies``) reads best left empty."""
    return isinstance(value, dict) and bool(value)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(document: dict[str, Any]) -> str:
    lines: list[str] = []

    def emit(table: dict[str, Any], path: list[str]) -> None:
        scalars = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {value_text(v)}")
        for k, v in table.items():
            if _is_table(v):
                sub = path + [k]
                if any(not _is_table(x) for x in v.values()):
                    lines.extend(["", "[" + ".".join(_key(p) for p in sub) + "]"])
                emit(v, sub)
            elif _is_table_array(v):
                for item in v:
                    lines.extend(["", "[[" + ".".join(_key(p) for p in path + [k]) + "]]"])
                    emit(item, path + [k])

    emit(document, [])
    return "\n".join(lines).lstrip("\n") + "\n"
