"""What a sweep will run: its grid and seeds expanded into runs, each named by its settings and seed.

A run's name is a pure function of its settings and seed, so running the same sweep again finds the run
directories it made before: ``real_label-0.9_lr-0.0001_seed-0``. Each grid key is shown by the shortest
ending of its dotted key that tells it apart from the other keys (``lr``, or ``generator.lr`` beside
``discriminator.lr``). Where the readable name would lose something (a character a folder name cannot
hold, a name over 80 characters), a short hash of the settings and seed is added, so two runs never share
a name.

A sweep is bounded by its sizes before anything is expanded: at most :data:`MAX_RUNS` runs (the grid's
combinations times the seeds, computed from the lengths) and :data:`MAX_GRID_KEYS` grid keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from ..common.config import MAX_SEED
from ..common.errors import RecipeError
from ..common.tomlwrite import value_text
from ..recipes.recipe import APPEND, parse_key, parse_override

SEED_KEY = "experiment.seed"
"""The one key a sweep sets itself, from ``--seeds``; a grid over it would hide the seed spread."""
MAX_RUNS = 1000
"""The most runs one sweep may have. Its manifest lists every run and is rewritten as each ends, and
every run is checked before any starts: past a thousand, a sweep spends its time on its own bookkeeping
(a larger study is several sweeps, each with its own --name)."""
MAX_GRID_KEYS = 32
"""The most grid keys one sweep may have: every key is one ``--set`` of every run's command line."""
MAX_NAME = 80
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def setting_of(key: str) -> tuple[str | int, ...] | None:
    """The setting a key names, read as ``--set`` reads keys, so that ``evaluators[4].every`` and
    ``evaluators.4.every`` are one setting; None for a key that names none."""
    try:
        return tuple(parse_key(key))
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class GridAxis:
    """One grid key and the values it takes, in the order given: a ``--grid KEY=[v1, v2, ...]`` option, or
    a ``"KEY" = [v1, v2, ...]`` line of a recipe's ``[sweep.grid]`` table (``in_table``)."""

    key: str
    values: tuple[Any, ...]
    in_table: bool = False

    @property
    def setting(self) -> tuple[str | int, ...] | None:
        return setting_of(self.key)

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
    non-empty array of distinct values, each key a setting named once (by any spelling), never the seed;
    a RecipeError of ``source`` with ``problems`` and every one found, else the axes with their values as
    tuples."""
    problems = list(problems)
    checked: dict[tuple[str | int, ...], GridAxis] = {}
    for axis in axes:
        values, where, setting = axis.values, axis.where, axis.setting
        twin = checked.get(setting)
        if setting is None or setting[-1] == APPEND:
            problems.append(f"{where}: {key_problem(axis.key)}")
        elif setting == setting_of(SEED_KEY):
            problems.append(f"{where}: the seed is not a grid key; give --seeds N (or seeds = N in [sweep]) instead")
        elif not isinstance(values, (list, tuple)) or not values:
            problems.append(
                f"{where}: expected a non-empty TOML array of values, e.g. [1, 2]; "
                f"got {value_text(values) if not isinstance(values, str) else repr(values)}"
            )
        elif twin is not None:
            problems.append(
                f"{where}: given twice; list all its values once"
                if twin.key == axis.key
                else f"{where}: the same setting as {twin.where}; list all its values under one key"
            )
        elif len({value_text(v) for v in values}) < len(values):
            problems.append(f"{where}: a value is listed twice in {value_text(values)}")
        else:
            checked[setting] = dataclasses.replace(axis, values=tuple(values))
    if problems:
        raise RecipeError(source, problems)
    return list(checked.values())


def key_problem(key: str) -> str:
    """Why ``key`` is no grid key: not a dotted key, or one that appends (``[+]``) rather than names a
    setting."""
    try:
        parse_key(key)
    except ValueError as e:
        return str(e)
    return "[+] appends a table to an array; a grid key names one setting, e.g. evaluators[0].every"


def check_size(axes: list[GridAxis], seeds: int, source: str) -> None:
    """Refuse a sweep over :data:`MAX_RUNS` runs or :data:`MAX_GRID_KEYS` grid keys from the sizes alone,
    before a run is expanded: six grid keys of ten values are a million runs."""
    if len(axes) > MAX_GRID_KEYS:
        raise RecipeError(
            source,
            [
                f"the grid has {len(axes)} keys ({axes[0].where}, {axes[1].where}, ...), more "
                f"than the {MAX_GRID_KEYS} a sweep may have"
            ],
        )
    runs = math.prod(len(axis.values) for axis in axes) * seeds
    if runs > MAX_RUNS:
        sizes = "".join(f"{axis.where} ({len(axis.values)} values) x " for axis in axes)
        raise RecipeError(
            source,
            [
                f"the sweep has {runs:,} runs ({sizes}seeds = {seeds}), more than the "
                f"{MAX_RUNS:,} a sweep may have; give fewer values or seeds, or split it into "
                "sweeps with their own --name"
            ],
        )


def overridden_grid_keys(axes: list[GridAxis], overrides: Sequence[str]) -> list[str]:
    """Each ``--set`` that names a setting the grid sweeps: every run sets the grid's value after it."""
    return overrides_of_varied(
        {axis.setting: axis.where for axis in axes},
        overrides,
        "sweeps the same setting, so every run would override it; give the value in the grid, or drop the --set",
    )


def overrides_of_varied(varied: dict[str, str], overrides: Sequence[str], clash: str) -> list[str]:
    """Each ``--set`` that names, by any spelling, a setting that ``varied`` maps to where it is varied (a
    sweep's grid, a study's space), which would silently lose the ``--set``: ``--set TEXT: WHERE CLASH``."""
    problems = []
    for text in overrides:
        where = varied.get(setting_of(text.split("=", 1)[0]))
        if where is not None:
            problems.append(f"--set {text}: {where} {clash}")
    return problems


def seed_values(first: int, count: int, source: str) -> list[int]:
    """``count`` seeds from the recipe's ``experiment.seed`` on: first, first + 1, ..."""
    if first + count - 1 > MAX_SEED:
        raise RecipeError(
            source,
            [
                f"seeds = {count} (--seeds, or [sweep]'s seeds): seeds run from "
                f"experiment.seed = {first} to "
                f"{first + count - 1}, past the largest seed {MAX_SEED}"
            ],
        )
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


def expand_combinations(
    axes: list[GridAxis], combinations: Sequence[dict[str, Any]], seeds: list[int]
) -> list[PlannedRun]:
    """Only the given combinations of the grid's values (each a value of every grid key, by key), each with
    every seed, in the order given: a re-check of chosen settings rather than the whole product."""
    labels = short_labels([axis.key for axis in axes])
    return [
        PlannedRun(run_name(settings, seed, labels), settings, seed)
        for settings in ({axis.key: combination[axis.key] for axis in axes} for combination in combinations)
        for seed in seeds
    ]


def short_labels(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key shares: ``lr``, or ``generator.lr`` when
    ``discriminator.lr`` is in the grid too."""
    split = {key: [str(part) for part in parse_key(key)] for key in keys}
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
    words = [
        f"{labels[key]}-{value if isinstance(value, str) else value_text(value)}" for key, value in settings.items()
    ]
    readable = "_".join([*words, f"seed-{seed}"])
    if _PLAIN_NAME.match(readable) and len(readable) <= MAX_NAME and not readable.startswith((".", "-")):
        return readable
    digest = hashlib.sha256(json.dumps([list(settings.items()), seed], sort_keys=True).encode()).hexdigest()[:8]
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", readable).strip(".-")
    return f"{plain[: MAX_NAME - 9]}-{digest}"
