"""Config dataclasses: how a component declares its settings, and how TOML values become them.

A component's settings are a plain dataclass whose fields are declared with :func:`param`, which keeps the
one-line help (shown by ``ganlab list``) and optional bounds next to the default. :func:`build_config`
checks a TOML table against such a dataclass and collects *every* problem instead of stopping at the
first, so a user fixes a recipe in one pass.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

from .hints import did_you_mean

_MISSING = dataclasses.MISSING


def param(
    default: Any = _MISSING, help: str = "", *, min: float | None = None, max: float | None = None, finite: bool = True
) -> Any:
    """Declare a config field with its one-line help and optional inclusive bounds.

    Every number a float field is given must be a float32 (see :func:`is_float32`) unless ``finite`` is
    False, for a setting where inf or nan means something (``inf``: no limit).
    Mutable defaults (lists) are copied per instance, so a recipe can never mutate a shared default.
    """
    metadata = {"help": help, "min": min, "max": max, "finite": finite}
    if isinstance(default, (list, dict)):
        frozen = default
        return dataclasses.field(default_factory=lambda: type(frozen)(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


FLOAT32_MAX = 3.4028234663852886e38
"""The largest float32; a larger number is inf once it is in a tensor."""


def is_float32(value: float) -> bool:
    """Whether ``value`` is a finite number a float32 tensor can hold. Training computes in float32, so a
    setting or a learning rate beyond it (``lr = 1e39``) is inf in the first tensor it reaches, and fails
    far from the setting that made it: inside an optimizer's step, or as NaN losses."""
    return abs(value) <= FLOAT32_MAX


MAX_SEED = 2**32 - 1
"""The largest seed a recipe may give. torch takes seeds below 2^64 and NumPy's global generator seeds
below 2^32, and ganlab derives seeds from a recipe's (the data order of epoch e is seeded with
seed * 1000003 + e), so a seed beyond this would crash training part way or alias another seed."""


def seed_param(default: int, help: str) -> Any:
    """A seed field: :func:`param` bounded to the range every random generator ganlab seeds accepts."""
    return param(default, help, min=0, max=MAX_SEED)


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What ``ganlab list`` shows about one config field."""

    name: str
    type: str
    default: Any
    help: str


def describe_fields(config_cls: type) -> list[FieldInfo]:
    hints = typing.get_type_hints(config_cls)
    infos = []
    for f in dataclasses.fields(config_cls):
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        infos.append(FieldInfo(f.name, type_name(hints[f.name]), default, f.metadata.get("help", "")))
    return infos


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin is dict:
        args = typing.get_args(hint)
        if not args:
            return "table"
        item = type_name(args[1])
        return f"table of ({item})" if " | " in item else f"table of {item}"
    if hint is type(None):
        return "none"
    return getattr(hint, "__name__", str(hint))


class _Invalid(Exception):
    pass


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Return ``value`` as ``hint`` or raise _Invalid with a message naming ``where``.

    TOML has no tuples and no None, so lists become tuples where the field is a tuple, and an integer is
    accepted for a float field (``lr = 1`` is fine); a bool is never accepted as a number. A ``dict`` field
    takes a table, each value checked against the dict's value type and named by its key.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and type(value) is type(choices[0]):
            return value
        hint_text = did_you_mean(str(value), [str(c) for c in choices])
        raise _Invalid(f"{where}: {value!r} is not one of {', '.join(repr(c) for c in choices)}{hint_text}")
    if origin in (Union, types.UnionType):
        errors = []
        for arm in typing.get_args(hint):
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except _Invalid as e:
                errors.append(str(e))
        raise _Invalid(f"{where}: expected {type_name(hint)}, got {_describe(value)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _Invalid(f"{where}: expected {type_name(hint)}, got {_describe(value)}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _Invalid(f"{where}: expected a list of {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(f"{where}: expected {type_name(hint)}, got {_describe(value)}")
        item = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        return {k: _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (bool, str):
        if isinstance(value, hint):
            return value
    elif dataclasses.is_dataclass(hint) or isinstance(value, hint):
        return value
    raise _Invalid(f"{where}: expected {type_name(hint)}, got {_describe(value)}")


def _describe(value: Any) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, dict) else kind


def _leaves(value: Any, where: str) -> Iterator[tuple[Any, str]]:
    """Every plain value in ``value`` (itself, or each one inside its lists and tables), with its place."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, f"{where}.{name}")
    else:
        yield value, where


def _beyond_float32(value: Any, where: str) -> str | None:
    """The problem of a float that is not :func:`is_float32`, named by its place; None for any other value."""
    if isinstance(value, float) and not is_float32(value):
        reason = (
            "must be a finite number"
            if not math.isfinite(value)
            else f"must be within float32's range (at most {FLOAT32_MAX:.4g} in size)"
        )
        return f"{where}: {reason}, got {value!r}"
    return None


def _not_text(value: Any, where: str) -> str | None:
    """The problem of a string that cannot be written as UTF-8 (a byte of a command line that was not UTF-8
    arrives as a lone surrogate), which would fail only when a run directory's files are written."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"{where}: character {e.start + 1} is not text (a byte that is not UTF-8); give it as UTF-8"
    return None


def build_config(config_cls: type, table: dict[str, Any], section: str) -> tuple[Any, list[str]]:
    """Check ``table`` against ``config_cls``; return (instance or None, problems as 'section.key: ...').

    Unknown keys come with the closest field names, missing required fields are named, floats are
    checked to be float32s and bounds from :func:`param` are enforced, and a ``ValueError`` raised by the
    dataclass's ``__post_init__`` is reported against the section.
    """
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{section}.{key}" if section else key
        if key not in fields:
            suggestion = did_you_mean(key, fields)
            known = f"; known keys: {', '.join(fields)}" if fields and not suggestion else ""
            problems.append(f"{where}: unknown key{suggestion}{known}")
            continue
        try:
            coerced = _coerce(value, hints[key], where)
        except _Invalid as e:
            problems.append(str(e))
            continue
        meta = fields[key].metadata
        checks = (_not_text, _beyond_float32) if meta.get("finite", True) else (_not_text,)
        unheld = [
            problem
            for leaf, place in _leaves(coerced, where)
            for check in checks
            if (problem := check(leaf, place)) is not None
        ]
        if unheld:
            problems.extend(unheld)
            continue
        for bound, ok in (("min", lambda v, b: v >= b), ("max", lambda v, b: v <= b)):
            limit = meta.get(bound)
            if limit is not None and isinstance(coerced, (int, float)) and not ok(coerced, limit):
                word = "at least" if bound == "min" else "at most"
                problems.append(f"{where}: must be {word} {limit}, got {coerced!r}")
        values[key] = coerced
    for name, f in fields.items():
        if name not in values and f.default is _MISSING and f.default_factory is _MISSING:
            if not any(p.startswith(f"{section}.{name}:") for p in problems):
                problems.append(f"{section}.{name}: required key is missing")
    if problems:
        return None, problems
    try:
        return config_cls(**values), []
    except ValueError as e:
        return None, [f"{section}: {e}"]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as TOML-ready values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
