"""Labels of a conditional data set: what each image is known to show (CelebA's "Smiling", a class
sub-folder), the one description that data sets, conditional networks, ``generate --condition``, the
samples grid and the attribute-control metric share.

A label is one value per attribute: an ``int64`` row of value indices, ``labels[:, a]`` in
``range(len(space.attributes[a].values))``. A binary attribute (CelebA's) has the values ``("0", "1")``;
a class folder is one attribute whose values are the folder names. A batch of labels is ``(N, A)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch

from .arguments import Accepts, checked
from .errors import ConfigError
from .plugins.hints import did_you_mean

NAME = Accepts("a non-empty string", lambda value: isinstance(value, str) and value != "")
VALUES = Accepts("a list or tuple of one or more distinct strings, such as ('0', '1')", lambda value: (
    isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, str) for v in value)
    and len(set(value)) == len(value)))
ATTRIBUTES = Accepts("a tuple of one or more ganlab.Attribute with distinct names", lambda value: (
    isinstance(value, tuple) and len(value) > 0 and all(isinstance(a, Attribute) for a in value)
    and len({a.name for a in value}) == len(value)))
TABLE = Accepts("a dict of attribute names to lists of their values, such as {'Smiling': ['0', '1']}",
                lambda value: isinstance(value, Mapping))


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One labelled property and the values it takes, in index order."""

    name: str
    values: tuple[str, ...] = ("0", "1")

    def __post_init__(self) -> None:
        """A value index means nothing unless the values are distinct strings; a string for the values
        (``"01"``) would otherwise be split into characters without a word."""
        checked("ganlab.Attribute", "name", self.name, NAME)
        object.__setattr__(self, "values", tuple(checked(f"ganlab.Attribute {self.name!r}", "values",
                                                         self.values, VALUES)))

    def index(self, value: str) -> int:
        """The index of ``value``, given by name (``blond``) or as an index (``1``)."""
        if value in self.values:
            return self.values.index(value)
        if value.isdigit() and int(value) < len(self.values):
            return int(value)
        raise ConfigError("condition", f"{self.name}={value}: {self.name} is one of "
                                       f"{', '.join(self.values)}")


@dataclasses.dataclass(frozen=True)
class LabelSpace:
    """The attributes a conditional data set labels its images with, in column order."""

    attributes: tuple[Attribute, ...]

    def __post_init__(self) -> None:
        checked("ganlab.LabelSpace", "attributes", self.attributes, ATTRIBUTES)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """How many values each attribute takes: what a label embedding needs to know."""
        return tuple(len(a.values) for a in self.attributes)

    def to_dict(self) -> dict[str, list[str]]:
        """Plain values for meta.json and checkpoints: ``{attribute: [values]}`` in column order."""
        return {a.name: list(a.values) for a in self.attributes}

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> "LabelSpace":
        """The space :meth:`to_dict` wrote (meta.json's ``label_space``)."""
        checked("ganlab.LabelSpace.from_dict", "table", table, TABLE)
        return cls(tuple(Attribute(name, values) for name, values in table.items()))

    def check(self, labels: torch.Tensor) -> None:
        """Raise ValueError unless ``labels`` is an int64 ``(N, A)`` batch of valid value indices."""
        if labels.dtype != torch.int64 or labels.dim() != 2 or labels.shape[1] != len(self.attributes):
            raise ValueError(f"labels must be int64 (N, {len(self.attributes)}), got {labels.dtype} "
                             f"{tuple(labels.shape)}")
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
                raise ConfigError("condition", f"{part!r}: expected ATTRIBUTE=VALUE, e.g. "
                                               f"{self.attributes[0].name}=1")
            if name not in self.names:
                raise ConfigError("condition", f"unknown attribute {name!r}" + (
                    did_you_mean(name, self.names) or f"; the run's attributes are {', '.join(self.names)}"))
            column = self.names.index(name)
            fixed[column] = self.attributes[column].index(value)
        return fixed
