"""What a sweep will run: its grid and seeds expanded into runs, each named by its settings and seed.

A run's name is a pure function of its settings and seed, so running the same sweep again finds the run
directories it made before: ``real_label-0.9_lr-0.0001_seed-0``. Each grid key is shown by the shortest
ending of its dotted key that tells it apart from the other keys (``lr``, or ``generator.lr`` beside
``discriminator.lr``). Where the readable name would lose something (a character a folder name cannot
hold, a name over 80 characters), a short hash of the settings and seed is added, so two runs never share
a name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any, Sequence

from ..errors import RecipeError
from ..recipes.config import MAX_SEED
from ..recipes.recipe import parse_override
from ..recipes.tomlwrite import value_text

SEED_KEY = "experiment.seed"
"""The one key a sweep sets itself, from ``--seeds``; a grid over it would hide the seed spread."""
MAX_NAME = 80
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclasses.dataclass(frozen=True)
class GridAxis:
    """One grid key and the values it takes, in the order given: a ``--grid KEY=[v1, v2, ...]`` option, or
    a ``"KEY" = [v1, v2, ...]`` line of a recipe's ``[sweep.grid]`` table (``in_table``)."""

    key: str
    values: tuple[Any, ...]
    in_table: bool = False

    @property
    def where(self) -> str:
        """Where the axis was given, as its problems name it."""
        return f"sweep.grid.{json.dumps(self.key)}" if self.in_table else f"--grid {self.key}"

    def value_where(self, value: Any) -> str:
        """Where one of its values was given: ``--grid KEY=VALUE`` or ``sweep.grid."KEY" = VALUE``."""
        return f"{self.where} = {value_text(value)}" if self.in_table else f"{self.where}={value_text(value)}"


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: the grid values it takes (``settings``, by grid key) and its seed."""

    name: str
    settings: dict[str, Any]
    seed: int

    @property
    def overrides(self) -> list[str]:
        """The run's ``--set`` overrides, as ``ganlab run`` takes them and records them in meta.json."""
        return [f"{key}={value_text(value)}" for key, value in self.settings.items()] + [f"{SEED_KEY}={self.seed}"]


def parse_grid(texts: list[str] | tuple[str, ...], source: str) -> list[GridAxis]:
    """The axes of ``--grid KEY=[...]`` options; every problem at once, as a RecipeError of ``source``."""
    axes: list[GridAxis] = []
    problems: list[str] = []
    for text in texts:
        try:
            values = parse_override(text)[1]
        except ValueError as e:
            problems.append(str(e).replace("--set", "--grid", 1))
            continue
        axes.append(GridAxis(text.split("=", 1)[0].strip(), values))
    return checked_axes(axes, source, problems)


def checked_axes(axes: list[GridAxis], source: str, problems: Sequence[str] = ()) -> list[GridAxis]:
    """``axes`` (their values as read, any TOML value) checked the one way both forms of a grid are: each a
    non-empty array of distinct values, once per key, never the seed; a RecipeError of ``source`` with
    ``problems`` and every one found, else the axes with their values as tuples."""
    problems = list(problems)
    checked: list[GridAxis] = []
    for axis in axes:
        key, values, where = axis.key, axis.values, axis.where
        if re.sub(r"\[(\d+)\]", r".\1", key) == SEED_KEY:
            problems.append(f"{where}: the seed is not a grid key; give --seeds N (or seeds = N in [sweep]) instead")
        elif not isinstance(values, (list, tuple)) or not values:
            problems.append(f"{where}: expected a non-empty TOML array of values, e.g. [1, 2]; "
                            f"got {value_text(values) if not isinstance(values, str) else repr(values)}")
        elif any(a.key == key for a in checked):
            problems.append(f"{where}: given twice; list all its values once")
        elif len({value_text(v) for v in values}) < len(values):
            problems.append(f"{where}: a value is listed twice in {value_text(values)}")
        else:
            checked.append(dataclasses.replace(axis, values=tuple(values)))
    if problems:
        raise RecipeError(source, problems)
    return checked


def seed_values(first: int, count: int, source: str) -> list[int]:
    """``count`` seeds from the recipe's ``experiment.seed`` on: first, first + 1, ..."""
    if first + count - 1 > MAX_SEED:
        raise RecipeError(source, [f"seeds = {count} (--seeds, or [sweep]'s seeds): seeds run from "
                                   f"experiment.seed = {first} to "
                                   f"{first + count - 1}, past the largest seed {MAX_SEED}"])
    return list(range(first, first + count))


def expand(axes: list[GridAxis], seeds: list[int]) -> list[PlannedRun]:
    """Every combination of the grid's values, each with every seed: grid order, then seed order."""
    labels = short_labels([axis.key for axis in axes])
    runs = []
    for values in itertools.product(*(axis.values for axis in axes)):
        settings = {axis.key: value for axis, value in zip(axes, values)}
        for seed in seeds:
            runs.append(PlannedRun(run_name(settings, seed, labels), settings, seed))
    return runs


def short_labels(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key shares: ``lr``, or ``generator.lr`` when
    ``discriminator.lr`` is in the grid too."""
    split = {key: re.sub(r"\[(\d+)\]", r".\1", key).split(".") for key in keys}
    labels = {}
    for key, parts in split.items():
        for length in range(1, len(parts) + 1):
            ending = parts[-length:]
            if all(other[-length:] != ending for k, other in split.items() if k != key):
                break
        labels[key] = ".".join(ending)
    return labels


def run_name(settings: dict[str, Any], seed: int, labels: dict[str, str]) -> str:
    """``label-value_..._seed-S``, plain and unique: a lossy name gets a hash of what it stands for."""
    words = [f"{labels[key]}-{value if isinstance(value, str) else value_text(value)}"
             for key, value in settings.items()]
    readable = "_".join([*words, f"seed-{seed}"])
    if _PLAIN_NAME.match(readable) and len(readable) <= MAX_NAME and not readable.startswith((".", "-")):
        return readable
    digest = hashlib.sha256(json.dumps([list(settings.items()), seed], sort_keys=True).encode()).hexdigest()[:8]
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", readable).strip(".-")
    return f"{plain[:MAX_NAME - 9]}-{digest}"
