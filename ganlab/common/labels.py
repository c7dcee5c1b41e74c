"""Labels of a conditional data set: what each image is known to show (CelebA's "Smiling", a class
sub-folder), the one description that data sets, conditional networks, ``generate --condition``, the
samples grid and the attribute-control metric share.

A label is one value per attribute: an ``int64`` row of value indices, ``labels[:, a]`` in
``range(len(space.attributes[a].values))``. A binary attribute (CelebA's) has the values ``("0", "1")``;
a class folder is one attribute whose values are the folder names. A batch of labels is ``(N, A)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from .arguments import Accepts, checked
from .errors import ArgumentError, ConfigError
from .hints import did_you_mean
from .whole_numbers import parse_whole_number, shown

NAME = Accepts("a non-empty string", lambda value: isinstance(value, str) and value != "")
VALUES = Accepts(
    "a list or tuple of one or more distinct strings, such as ('0', '1')",
    lambda value: (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value)
    ),
)
ATTRIBUTES = Accepts(
    "a tuple of one or more ganlab.Attribute with distinct names",
    lambda value: (
        isinstance(value, tuple)
        and len(value) > 0
        and all(isinstance(a, Attribute) for a in value)
        and len({a.name for a in value}) == len(value)
    ),
)


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One labelled property and the values it takes, in index order."""

    name: str
    values: tuple[str, ...] = ("0", "1")

    def __post_init__(self) -> None:
        """A value index means nothing unless the values are distinct strings; a string for the values
        (``"01"``) would otherwise be split into characters without a word."""
        checked("ganlab.Attribute", "name", self.name, NAME)
        object.__setattr__(
            self, "values", tuple(checked(f"ganlab.Attribute {self.name!r}", "values", self.values, VALUES))
        )

    def index(self, value: str) -> int:
        """The index of ``value``, given by name (``blond``) or as an index (``1``)."""
        if value in self.values:
            return self.values.index(value)
        index = parse_whole_number(value)
        if index is not None and index < len(self.values):
            return index
        by_index = (
            ""
            if self.values == tuple(map(str, range(len(self.values))))
            else f", or its index 0 to {len(self.values) - 1}"
        )
        raise ConfigError(
            "condition", f"{self.name}={shown(value)}: {self.name} is one of {', '.join(self.values)}{by_index}"
        )


RECORD_FORM = '{"attributes": [{"name": NAME, "values": [VALUE, ...]}, ...]}'
"""How :meth:`LabelSpace.to_dict` records a label space, in the words an error message gives."""


def _values(values: Any, name: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ArgumentError(f"attribute {name!r} has values {values!r:.60}, not a list of at least one string")
    return tuple(values)


def _attribute(item: dict[str, Any]) -> Attribute:
    name = item.get("name")
    if not isinstance(name, str):
        raise ArgumentError(
            f'an attribute of a label space is {{"name": NAME, "values": [VALUE, ...]}}, not {item!r:.80}'
        )
    return Attribute(name, _values(item.get("values"), name))


def _in_column_order(table: dict[str, Any], order: Sequence[str] | None) -> list[tuple[str, Any]]:
    """The (name, values) of an earlier ganlab's ``{name: values}`` table in column order, where known."""
    if order is not None and sorted(order) == sorted(table):
        return [(name, table[name]) for name in order]
    if len(table) <= 1:
        return list(table.items())
    raise ArgumentError(
        f"this label space is a {{name: values}} table ({', '.join(map(repr, table))}), as earlier versions "
        f"of ganlab recorded it, and meta.json sorted its names, so which column of a label row each one is "
        f"was lost. Give LabelSpace.from_dict the names in column order (order=[...], as the run's recipe "
        f"lists data.attributes), or read it through ganlab.load_run(RUN).meta, which takes the order from "
        f"the run's recipe"
    )


@dataclasses.dataclass(frozen=True)
class LabelSpace:
    """The attributes a conditional data set labels its images with, in column order."""

    attributes: tuple[Attribute, ...]

    def __post_init__(self) -> None:
        checked("ganlab.LabelSpace", "attributes", self.attributes, ATTRIBUTES)

    def __iter__(self) -> Iterator[Attribute]:
        """Its attributes in column order: a label space reads as the tuple of attributes it holds."""
        return iter(self.attributes)

    def __len__(self) -> int:
        """How many attributes, the width ``A`` of a label batch ``(N, A)``."""
        return len(self.attributes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """How many values each attribute takes: what a label embedding needs to know."""
        return tuple(len(a.values) for a in self.attributes)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """Plain values for records (meta.json, checkpoints, a data set's ``describe()``):
        ``{"attributes": [{"name": "Smiling", "values": ["0", "1"]}, ...]}`` in column order. A list, not a
        table keyed by name, so that the order, which says which column of a label row each attribute is,
        survives any writer or reader that sorts keys (meta.json is written so)."""
        return {"attributes": [{"name": a.name, "values": list(a.values)} for a in self.attributes]}

    @classmethod
    def from_dict(cls, record: Any, order: Sequence[str] | None = None) -> LabelSpace:
        """The space :meth:`to_dict` recorded; an ArgumentError (a GanlabError, and a ValueError) saying what
        is wrong with anything else.

        Earlier versions of ganlab recorded ``{name: [values]}``, and meta.json sorted those names
        alphabetically, losing their column order. Such a table is read in ``order`` (its names in column
        order, known elsewhere: a run's ``data.attributes``, a checkpoint's own keys) or when it has one
        attribute; any other is refused rather than pair names with the wrong columns."""
        if not isinstance(record, dict):
            raise ArgumentError(f"a label space is recorded as {RECORD_FORM}, not {record!r:.80}")
        items = record.get("attributes")
        if isinstance(items, list) and all(isinstance(item, dict) for item in items):
            attributes = [_attribute(item) for item in items]
        else:
            attributes = [Attribute(name, _values(values, name)) for name, values in _in_column_order(record, order)]
        names = [a.name for a in attributes]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise ArgumentError(f"the label space names attribute {twice!r} twice")
        return cls(tuple(attributes))

    def check(self, labels: torch.Tensor) -> None:
        """Raise ValueError unless ``labels`` is an int64 ``(N, A)`` batch of valid value indices."""
        if labels.dtype != torch.int64 or labels.dim() != 2 or labels.shape[1] != len(self.attributes):
            raise ValueError(
                f"labels must be int64 (N, {len(self.attributes)}), got {labels.dtype} {tuple(labels.shape)}"
            )
        if len(labels) and ((labels < 0).any() or (labels >= torch.tensor(self.sizes)).any()):
            raise ValueError("labels hold a value index outside an attribute's values")

    def parse(self, text: str) -> dict[int, int]:
        """``"Smiling=1,Eyeglasses=0"`` -> {column: value index}; attributes left out are not fixed.
        Raises :class:`ganlab.ConfigError` (key ``condition``) naming what is wrong."""
        fixed: dict[int, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise ConfigError(
                    "condition", f"{shown(part)}: expected ATTRIBUTE=VALUE, e.g. {self.attributes[0].name}=1"
                )
            if name not in self.names:
                raise ConfigError(
                    "condition",
                    f"unknown attribute {shown(name)}"
                    + (did_you_mean(name, self.names) or f"; the run's attributes are {', '.join(self.names)}"),
                )
            column = self.names.index(name)
            if column in fixed:
                raise ConfigError("condition", f"{name} is given twice; give each attribute once")
            fixed[column] = self.attributes[column].index(value)
        return fixed


def in_column_order(record: Any, order: Sequence[str] | None) -> Any:
    """A recorded label space in the form :meth:`LabelSpace.to_dict` writes now, an earlier ganlab's table
    put in ``order``; ``record`` itself where it cannot be read, for :meth:`LabelSpace.from_dict` to refuse,
    saying why, when someone reads it."""
    try:
        return LabelSpace.from_dict(record, order).to_dict()
    except ValueError:
        return record
