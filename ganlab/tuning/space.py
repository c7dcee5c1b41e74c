"""A study's search space: ``[tune.space]``, one distribution per recipe key, checked whole before any
trial runs.

Each entry is an inline table of one of three forms::

    "optimizer.generator.lr" = { low = 1e-5, high = 1e-3, log = true }   # a float range (log: sampled
                                                                        # evenly in log space)
    "train.d_steps" = { low = 1, high = 5 }                              # an int range: both bounds ints
    "augment.name" = { choices = ["none", "diffaugment", "ada"] }        # one of these values

Keys are read as ``--set`` reads them (:func:`ganlab.recipes.recipe.parse_key`), so one setting spelt
two ways is one key; whether a value fits the recipe (a learning rate's bounds, a registered component's
name) is checked by resolving the recipe at each end of each range and with each choice
(:func:`ganlab.tuning.plan.plan_study`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..common.tomlwrite import value_text
from ..recipes.recipe import APPEND, TUNE_SECTION, parse_key, parse_override
from ..sweeps.plan import SEED_KEY, overrides_of_varied, setting_of

SPACE_TABLE = "space"
"""The sub-table of ``[tune]`` that holds the search space: ``[tune.space]``."""
RANGE_FIELDS = ("low", "high", "log")
CHOICE_FIELDS = ("choices",)
MAX_KEYS = 32
"""The most keys a space may have: every key is one ``--set`` of every trial's command line."""
MAX_CHOICES = 1000


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One key of the space and what it may take: a range (``low`` to ``high``, ints when both are ints,
    sampled in log space when ``log``) or ``choices``."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    in_table: bool = True

    @property
    def kind(self) -> str:
        """``float``, ``int`` or ``choice``."""
        if self.choices is not None:
            return "choice"
        return "int" if isinstance(self.low, int) else "float"

    @property
    def setting(self) -> tuple[str | int, ...] | None:
        return setting_of(self.key)

    @property
    def where(self) -> str:
        return f"{TUNE_SECTION}.{SPACE_TABLE}.{json.dumps(self.key)}" if self.in_table else f"--space {self.key}"

    def checked_values(self) -> tuple[Any, ...]:
        """The values whose fit with the recipe stands for all: both ends of a range, every choice."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def to_table(self) -> dict[str, Any]:
        """As the study records it, and as a ``[tune.space]`` entry reads."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}

    def distribution(self) -> Any:
        """The Optuna distribution of the key (Optuna imported by the caller's need)."""
        import optuna

        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(self.low, self.high, log=self.log)
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)


def parse_space_options(texts: tuple[str, ...] | list[str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """The (key, entry) of each ``--space KEY={...}`` option, and the problems of those that cannot be read."""
    entries, problems = [], []
    for text in texts:
        try:
            entry = parse_override(text)[1]
        except ValueError as e:
            problems.append(str(e).replace("--set", "--space", 1))
            continue
        entries.append((text.split("=", 1)[0].strip(), entry))
    return entries, problems


def read_space(table: Any, options: list[tuple[str, Any]]) -> tuple[list[Dimension], list[str]]:
    """The dimensions of ``[tune.space]`` (``table``) with the ``--space`` options (``options``) replacing
    the table's entry of the same setting, and every problem found (an empty space is one)."""
    problems: list[str] = []
    if not isinstance(table, dict):
        return [], [f"{TUNE_SECTION}.{SPACE_TABLE}: expected a table of keys and distributions ([tune.space])"]
    replaced = {setting_of(key) for key, _ in options}
    given = [(key, entry, True) for key, entry in table.items() if setting_of(key) not in replaced]
    given += [(key, entry, False) for key, entry in options]
    dimensions: dict[tuple[str | int, ...], Dimension] = {}
    for key, entry, in_table in given:
        dimension, problem = read_dimension(key, entry, in_table)
        if problem is not None:
            problems.append(problem)
        elif dimension.setting in dimensions:
            problems.append(f"{dimension.where}: the same setting as {dimensions[dimension.setting].where}")
        else:
            dimensions[dimension.setting] = dimension
    if not given:
        problems.append(
            f"{TUNE_SECTION}.{SPACE_TABLE}: no key to search; give at least one, e.g. "
            '"optimizer.generator.lr" = { low = 1e-5, high = 1e-3, log = true }'
        )
    elif len(given) > MAX_KEYS:
        problems.append(f"{TUNE_SECTION}.{SPACE_TABLE}: {len(given)} keys, more than the {MAX_KEYS} a study may search")
    return list(dimensions.values()), problems


def read_dimension(key: str, entry: Any, in_table: bool = True) -> tuple[Dimension, str | None]:
    """One entry read and checked: the dimension, or the one-line problem that stops it."""
    dimension = Dimension(key, in_table=in_table)
    where = dimension.where
    try:
        parts = parse_key(key)
    except ValueError as e:
        return dimension, f"{where}: {e}"
    if parts[-1] == APPEND:
        return dimension, f"{where}: [+] appends a table to an array; a space key names one setting"
    if setting_of(key) == setting_of(SEED_KEY):
        return dimension, (
            f"{where}: the seed is not searched (a search over seeds crowns the luckiest one); the "
            "re-check runs the best settings over recheck_seeds fresh seeds"
        )
    if not isinstance(entry, dict):
        return dimension, (
            f"{where}: expected an inline table, {{ low = 1e-5, high = 1e-3, log = true }} or "
            f"{{ choices = [...] }}; got {value_text(entry) if not isinstance(entry, str) else repr(entry)}"
        )
    if "choices" in entry:
        return read_choices(dimension, entry)
    return read_range(dimension, entry)


def read_choices(dimension: Dimension, entry: dict[str, Any]) -> tuple[Dimension, str | None]:
    where, choices = dimension.where, entry["choices"]
    unknown = [field for field in entry if field not in CHOICE_FIELDS]
    if unknown:
        return dimension, f"{where}: {', '.join(unknown)}: not a field of a choice; it takes only choices = [...]"
    if not isinstance(choices, list) or not choices:
        return dimension, f"{where}: choices must be a non-empty array of values, e.g. choices = [1, 2]"
    plain = [c for c in choices if isinstance(c, (str, int, float, bool))]
    if len(plain) < len(choices):
        return dimension, f"{where}: choices must be numbers, strings or booleans, not tables or arrays"
    if len(choices) > MAX_CHOICES:
        return dimension, f"{where}: {len(choices)} choices, more than the {MAX_CHOICES} a key may have"
    if len({value_text(c) for c in choices}) < len(choices):
        return dimension, f"{where}: a value is listed twice in choices = {value_text(choices)}"
    return dataclasses.replace(dimension, choices=tuple(choices)), None


def read_range(dimension: Dimension, entry: dict[str, Any]) -> tuple[Dimension, str | None]:
    where = dimension.where
    unknown = [field for field in entry if field not in RANGE_FIELDS]
    if unknown:
        return dimension, (
            f"{where}: {', '.join(unknown)}: not a field of a range; a range takes low, high and log, a "
            "choice takes choices"
        )
    missing = [field for field in ("low", "high") if field not in entry]
    if missing:
        return dimension, f"{where}: a range needs low and high (missing: {', '.join(missing)}), or give choices"
    low, high, log = entry["low"], entry["high"], entry.get("log", False)
    for name, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            return dimension, f"{where}: {name} must be a number, got {value_text(bound)}"
        if bound != bound or bound in (float("inf"), float("-inf")):
            return dimension, f"{where}: {name} must be a finite number, got {value_text(bound)}"
    if not isinstance(log, bool):
        return dimension, f"{where}: log must be true or false, got {value_text(log)}"
    if isinstance(low, int) != isinstance(high, int):
        return dimension, (
            f"{where}: low = {value_text(low)} and high = {value_text(high)}: one is an integer and the other "
            "not; give both as integers for an int range (1 and 5), or both with a decimal point for a float "
            "range (1.0 and 5.0)"
        )
    if low >= high:
        return dimension, f"{where}: low ({value_text(low)}) must be below high ({value_text(high)})"
    if log and low <= 0:
        return dimension, f"{where}: log = true needs low above 0 (got {value_text(low)}): log space has no 0"
    return dataclasses.replace(dimension, low=low, high=high, log=log), None


def space_problems(dimensions: list[Dimension], overrides: tuple[str, ...] | list[str]) -> list[str]:
    """Each ``--set`` that names a setting the space searches: every trial sets the searched value after it."""
    return overrides_of_varied(
        {dimension.setting: dimension.where for dimension in dimensions},
        overrides,
        "searches the same setting, so every trial would override it; drop the --set, or the key from the space",
    )
