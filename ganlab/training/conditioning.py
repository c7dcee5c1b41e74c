"""Labels on their way from the data set to the networks: which networks take them, how a generator's
labels are drawn, and which conditions a progress grid shows.

A network takes labels when it says so (``conditional = True``, :class:`ganlab.ConditionalGenerator`);
the engine never asks which component it is. A conditional generator's labels follow the data's own
label distribution (the empirical joint: a random image's labels), so it learns the combinations that
occur, as often as they occur. That distribution is kept as its distinct rows and their counts, which
is small (at most one row per image, in practice a handful), goes into meta.json and every checkpoint,
and so lets ``generate`` and ``compare`` draw as training did without the data set.

A rare value is then asked of the generator as rarely as it occurs, which can be too rarely for it to be
learnt (synthetic faces with glasses on 4% of them, asked for glasses, drew them 2% and 18% of the time
after 400 steps); ``train.generator_labels = "balanced"`` draws the generator's labels from
:class:`BalancedLabels` instead, each attribute's values equally often (79% and 64%).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..common.labels import LabelSpace

ALL_COMBINATIONS_UP_TO = 8
"""A grid shows every combination of the attributes' values when there are at most this many rows."""


def is_conditional(network: nn.Module) -> bool:
    """Whether ``network`` takes labels beside its input (``conditional = True``)."""
    return bool(getattr(network, "conditional", False))


def forward(
    network: Callable[..., torch.Tensor], inputs: torch.Tensor, labels: torch.Tensor | None, conditional: bool
) -> torch.Tensor:
    """``network(inputs, labels)`` for a conditional network, ``network(inputs)`` otherwise."""
    return network(inputs, labels) if conditional else network(inputs)


def blank_labels(num: int, space: LabelSpace | None, device: torch.device) -> torch.Tensor:
    """``num`` rows of the first value of every attribute: labels for a shape check, whose values do not
    matter; ``(num, 0)`` when the space is not known yet (a network built before its data set)."""
    return torch.zeros(num, len(space.attributes) if space is not None else 0, dtype=torch.int64, device=device)


@dataclasses.dataclass(frozen=True)
class LabelDistribution:
    """The data's labels as a distribution: its distinct label rows ``(K, A)`` and how many images carry
    each. Drawing from it is drawing the labels of a uniformly random image."""

    space: LabelSpace
    rows: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def of(cls, space: LabelSpace, labels: torch.Tensor) -> LabelDistribution:
        rows, counts = torch.unique(labels.cpu(), dim=0, return_counts=True)
        return cls(space, rows, counts)

    def to(self, device: torch.device) -> LabelDistribution:
        """The same distribution with its tensors on ``device``: drawn there every step, it is copied there
        once, not at every draw."""
        return dataclasses.replace(self, rows=self.rows.to(device), counts=self.counts.to(device))

    def draw(self, num: int, rng: torch.Generator) -> torch.Tensor:
        """``num`` label rows, int64 ``(num, A)`` on ``rng``'s device: the labels of ``num`` images picked
        uniformly at random (with replacement) from ``rng``."""
        cumulative = self.counts.cumsum(0).to(rng.device)
        picks = torch.randint(int(cumulative[-1]), (num,), device=rng.device, generator=rng)
        return self.rows.to(rng.device)[torch.searchsorted(cumulative, picks, right=True)]

    def most_common(self) -> list[int]:
        """Each attribute's most frequent value index, counted over the images."""
        return [
            int(torch.bincount(self.rows[:, a], weights=self.counts.double(), minlength=size).argmax())
            for a, size in enumerate(self.space.sizes)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for meta.json and checkpoints."""
        return {"space": self.space.to_dict(), "rows": self.rows.tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> LabelDistribution:
        """What :meth:`to_dict` put in a checkpoint. An older checkpoint's space is a ``{name: values}``
        table whose keys are in column order (torch.save keeps a dict's order, unlike meta.json)."""
        space = LabelSpace.from_dict(record["space"], order=list(record["space"]))
        rows = torch.tensor(record["rows"], dtype=torch.int64).reshape(-1, len(space.attributes))
        return cls(space, rows, torch.tensor(record["counts"], dtype=torch.int64))


@dataclasses.dataclass(frozen=True)
class BalancedLabels:
    """Labels whose attributes are independent and take each of their values that occur in the data equally
    often, whatever their frequencies there: what a generator is asked for under
    ``train.generator_labels = "balanced"``. A value no image carries is never asked for, since the
    discriminator has no real image to show the generator what it looks like."""

    values: tuple[torch.Tensor, ...]
    """Per attribute, the value indices that occur in the data."""

    @classmethod
    def of(cls, distribution: LabelDistribution) -> BalancedLabels:
        return cls(tuple(distribution.rows[:, a].unique() for a in range(len(distribution.space.attributes))))

    def draw(self, num: int, rng: torch.Generator) -> torch.Tensor:
        """``num`` label rows, int64 ``(num, A)`` on ``rng``'s device, each attribute's drawn uniformly from
        ``rng`` in column order."""
        return torch.stack(
            [
                values.to(rng.device)[torch.randint(len(values), (num,), device=rng.device, generator=rng)]
                for values in self.values
            ],
            dim=1,
        )


GENERATOR_LABELS = {"data": lambda distribution: distribution, "balanced": BalancedLabels.of}
"""What ``train.generator_labels`` draws the generator's labels from, given the data's distribution."""


def distribution_of(dataset: Any) -> LabelDistribution | None:
    """The label distribution of a labelled data set (one with ``label_space`` and ``labels``), else None."""
    space = getattr(dataset, "label_space", None)
    return LabelDistribution.of(space, dataset.labels) if space is not None else None


def grid_conditions(distribution: LabelDistribution) -> torch.Tensor:
    """The conditions a progress grid shows, one row each, int64 ``(R, A)``.

    Every combination of the attributes' values when there are at most :data:`ALL_COMBINATIONS_UP_TO`
    (three binary attributes); otherwise each value of each attribute in turn, the other attributes at
    their most common value, so each row differs from the most common face in one attribute; the most
    common face itself is shown once, where its first attribute's turn puts it.
    """
    sizes = distribution.space.sizes
    if torch.tensor(sizes).prod() <= ALL_COMBINATIONS_UP_TO:
        return torch.tensor(list(itertools.product(*(range(s) for s in sizes))), dtype=torch.int64)
    common = distribution.most_common()
    rows = []
    for a, size in enumerate(sizes):
        for value in range(size):
            row = list(common)
            row[a] = value
            if row not in rows:
                rows.append(row)
    return torch.tensor(rows, dtype=torch.int64)


def describe_condition(space: LabelSpace, row: torch.Tensor) -> str:
    """A label row in the words ``--condition`` takes: ``Smiling=1, Eyeglasses=0``."""
    return ", ".join(f"{a.name}={a.values[int(v)]}" for a, v in zip(space.attributes, row))


def condition_grid(z: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Latents and labels for a grid of one row per condition with the same latents across rows: as many
    columns as fit ``len(z)`` images (at least one). Returns (latents, labels, columns)."""
    columns = max(1, len(z) // len(conditions))
    latents = z[:columns].repeat(len(conditions), 1)
    labels = conditions.to(z.device).repeat_interleave(columns, dim=0)
    return latents, labels, columns


def fixed_labels(space: LabelSpace, fixed: dict[int, int], num: int) -> torch.Tensor:
    """``num`` rows of the values ``fixed`` ({column: value index}, as :meth:`LabelSpace.parse` gives)
    and -1 in the columns left to be drawn."""
    row = torch.full((len(space.attributes),), -1, dtype=torch.int64)
    for column, value in fixed.items():
        row[column] = value
    return row.repeat(num, 1)


def check_labels(space: LabelSpace, labels: torch.Tensor, num: int) -> torch.Tensor:
    """``labels`` if they are ``num`` valid rows of ``space`` (raises ValueError otherwise)."""
    space.check(labels)
    if len(labels) != num:
        raise ValueError(f"labels has {len(labels)} rows for {num} images")
    return labels
