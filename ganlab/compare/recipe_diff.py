"""What differs between the resolved recipes of several runs: only the keys whose values differ.

Resolved recipes carry every default, so two runs that differ in one ``--set`` differ in one key here.
Evaluators are matched by name rather than by position, so adding an evaluator to one run shows as that
evaluator being present in one run only, not as every later evaluator having changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from ..recipes.recipe import recipe_tables, section_label


class Absent:
    """A value a run does not have: the key (or its whole section) is not in its recipe."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


NO_KEY = Absent("not set")
NO_SECTION = Absent("no such section")
NO_RECIPE = Absent("recipe unreadable")


@dataclasses.dataclass(frozen=True)
class Difference:
    section: str  # "loss", "optimizer.generator", "evaluators[samples]"
    key: str
    values: tuple[Any, ...]  # one per run; an :class:`Absent` where the run has no such key


def component_tables(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The recipe's sections by label; entries of an array of tables are labelled by their name."""
    tables: dict[str, dict[str, Any]] = {}
    for path, table in recipe_tables(document):
        label = section_label(path)
        if isinstance(path[-1], int) and isinstance(table.get("name"), str):
            label = _first_free(f"{section_label(path[:-1])}[{table['name']}]", tables)
        tables[label] = table
    return tables


def _first_free(label: str, taken: dict[str, Any]) -> str:
    """``label``, or ``label#2``, ``label#3``... for an evaluator listed twice."""
    candidate, count = label, 1
    while candidate in taken:
        count += 1
        candidate = f"{label}#{count}"
    return candidate


def recipe_differences(documents: Sequence[dict[str, Any] | None]) -> list[Difference]:
    """Every (section, key) whose value is not the same in all runs, in the order the recipes list them.

    A run whose recipe could not be read (None) has no values; it makes no key differ on its own.
    """
    readable = [d for d in documents if d is not None]
    per_run = [component_tables(d) if d is not None else None for d in documents]
    differences = []
    for section, key in _keys_in_order(component_tables(d) for d in readable):
        values = tuple(_value(tables, section, key) for tables in per_run)
        present = [v for v in values if v is not NO_RECIPE]
        if any(not _same(v, present[0]) for v in present[1:]):
            differences.append(Difference(section, key, values))
    return differences


def _keys_in_order(all_tables: Iterable[dict[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    sections: dict[str, dict[str, None]] = {}
    for tables in all_tables:
        for section, table in tables.items():
            sections.setdefault(section, {}).update(dict.fromkeys(table))
    return [(section, key) for section, keys in sections.items() for key in keys]


def _value(tables: dict[str, dict[str, Any]] | None, section: str, key: str) -> Any:
    if tables is None:
        return NO_RECIPE
    if section not in tables:
        return NO_SECTION
    return tables[section].get(key, NO_KEY)


def _same(a: Any, b: Any) -> bool:
    """Equal as TOML values: 2 and 2.0 are the same number, but true is not 1."""
    if isinstance(a, Absent) or isinstance(b, Absent):
        return a is b
    return a == b and isinstance(a, bool) == isinstance(b, bool)
