"""Labels of a conditional data set: what each image is known to show (CelebA's "Smiling", a class
sub-folder), the one description that data sets, conditional networks, ``generate --condition``, the
samples grid and the attribute-control metric share.

A label is one value per attribute: an ``int64`` row of value indices, ``labels[:, a]`` in
``range(len(space.attributes[a].values))``. A binary attribute (CelebA's) has the values ``("0", "1")``;
a class folder is one attribute whose values are the folder names. A batch of labels is ``(N, A)``.
"""

from __future__ import annotations

import dataclasses

import torch

from .errors import ConfigError
from .plugins.hints import did_you_mean
from .whole_numbers import shown, whole_number


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One labelled property and the values it takes, in index order."""

    name: str
    values: tuple[str, ...] = ("0", "1")

    def index(self, value: str) -> int:
        """The index of ``value``, given by name (``blond``) or as an index (``1``)."""
        if value in self.values:
            return self.values.index(value)
        index = whole_number(value)
        if index is not None and index < len(self.values):
            return index
        by_index = "" if self.values == tuple(map(str, range(len(self.values)))) else \
            f", or its index 0 to {len(self.values) - 1}"
        raise ConfigError("condition", f"{self.name}={shown(value)}: {self.name} is one of "
                                       f"{', '.join(self.values)}{by_index}")


@dataclasses.dataclass(frozen=True)
class LabelSpace:
    """The attributes a conditional data set labels its images with, in column order."""

    attributes: tuple[Attribute, ...]

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
    def from_dict(cls, table: dict[str, list[str]]) -> "LabelSpace":
        return cls(tuple(Attribute(name, tuple(values)) for name, values in table.items()))

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
                raise ConfigError("condition", f"{shown(part)}: expected ATTRIBUTE=VALUE, e.g. "
                                               f"{self.attributes[0].name}=1")
            if name not in self.names:
                raise ConfigError("condition", f"unknown attribute {shown(name)}" + (
                    did_you_mean(name, self.names) or f"; the run's attributes are {', '.join(self.names)}"))
            column = self.names.index(name)
            fixed[column] = self.attributes[column].index(value)
        return fixed
