"""Runs that differ only in their seed, taken together: the unit a comparison of settings is made in.

Two runs belong to one group when their resolved recipes are equal once ``experiment.seed`` is set aside
(and ``experiment.name``, which only names the run directory). Every other seed is part of the setting: a
different ``data.seed`` trains on a different synthetic set, a metric evaluator's ``seed`` scores other images,
so runs differing in one of those are different groups. A run whose recipe.toml cannot be read is a group
of its own. Per group, each final number (every evaluation metric's last value, and the mean of each
logged loss and D output over the last epoch) gets its spread over the seeds (:mod:`.seed_spread`), and
each pair of groups is judged against it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..page import html as h
from ..page.figures import run_colors
from ..recipes.recipe import dotted_settings
from ..report.core_sections import by_metric, final_and_best, last_epoch_means
from ..rundir.records import METRIC_LABELS
from .compared_run import ComparedRun
from .metric_protocols import ProtocolMismatch
from .seed_spread import CONFIDENCE, RESAMPLES, Difference, Spread, difference, spread

if TYPE_CHECKING:
    import pandas as pd

SEED_KEYS = (("experiment", "seed"), ("experiment", "name"))
"""The settings runs of one group may differ in: the seed, and the name that only labels the directory."""

NAMED_SETTINGS = 3
"""A group is named by at most this many of the settings that set it apart; the rest are counted."""

OUTSIDE, WITHIN, UNKNOWN, NOT_COMPARABLE = (
    "outside the seed spread",
    "within the seed spread",
    "spread unknown",
    "not comparable",
)
"""The verdicts on a difference between two groups."""


@dataclasses.dataclass
class SeedGroup:
    """Runs of one setting; ``name`` and ``color`` stand for them in tables and figures."""

    name: str
    color: str
    runs: list[ComparedRun]


@dataclasses.dataclass(frozen=True)
class GroupedComparison:
    """A comparison of runs grouped by setting, as tables (what ``ganlab.compare`` returns).

    ``groups``: one row per group and quantity: group, quantity, n, mean, std (ddof=1), low and high (the
    95% percentile-bootstrap interval of the mean, 10,000 resamples, seeded). ``runs``: one row per run:
    run, group, seed, status, path, then each quantity's final value. ``differences``: one row per pair of
    groups and quantity: quantity, group_a, group_b, difference (mean of b minus mean of a), low and high
    (the bootstrap interval of that difference), verdict. ``statement``: which differences are outside the
    seed spread and which are not, in words. Quantities are the evaluation metrics by name (their last
    value) and ``loss_d``, ``loss_g``, ``d_real``, ``d_fake`` (their mean over the last epoch).
    """

    groups: pd.DataFrame
    runs: pd.DataFrame
    differences: pd.DataFrame
    statement: str


def setting_of(recipe: dict[str, Any]) -> str:
    """The recipe without the keys runs of one group may differ in, as canonical text to group by."""
    kept = json.loads(json.dumps(recipe))
    for section, key in SEED_KEYS:
        if isinstance(kept.get(section), dict):
            kept[section].pop(key, None)
    return json.dumps(kept, sort_keys=True)


def seed_groups(runs: Sequence[ComparedRun]) -> list[SeedGroup]:
    """The runs grouped by setting, groups in the order of their first run, runs in the order given."""
    members: dict[str, list[ComparedRun]] = {}
    for run in runs:
        key = setting_of(run.recipe) if run.recipe is not None else f"unreadable recipe: {run.name}"
        members.setdefault(key, []).append(run)
    names = group_names(list(members.values()))
    return [
        SeedGroup(name, color, group) for name, color, group in zip(names, run_colors(len(members)), members.values())
    ]


def group_names(groups: list[list[ComparedRun]]) -> list[str]:
    """Each group named by the settings that set it apart from the others; a group whose recipe cannot be
    read, or the only group, by its first run's name."""
    settings = [
        dict(dotted_settings(json.loads(setting_of(group[0].recipe)))) if group[0].recipe is not None else None
        for group in groups
    ]
    readable = [s for s in settings if s is not None]
    keys = list(dict.fromkeys(k for s in readable for k in s))
    differing = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in readable}) > 1]
    names = []
    for group, own in zip(groups, settings):
        if own is None or not differing:
            names.append(group[0].name)
            continue
        shown = [f"{k}={h.format_value(own[k]) if k in own else '(absent)'}" for k in differing[:NAMED_SETTINGS]]
        more = len(differing) - NAMED_SETTINGS
        names.append(", ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
    return [name if names.count(name) == 1 else f"{name} #{i + 1}" for i, name in enumerate(names)]


def final_values(run: ComparedRun) -> dict[str, float | None]:
    """Where the run ended: each logged loss and D output averaged over its last epoch (None where none
    was finite), then each evaluation metric's last value."""
    losses = last_epoch_means(run.metrics.to_dict("records"))[2] if not run.metrics.empty else {}
    metrics = {
        metric: float(final_and_best(records)[0]["value"]) for metric, records in by_metric(run.evaluations).items()
    }
    return {**losses, **metrics}


def quantity_label(quantity: str) -> str:
    """How a quantity is named in words: ``loss D (last-epoch mean)``, ``swd (final)``."""
    if quantity in METRIC_LABELS:
        return f"{METRIC_LABELS[quantity]} (last-epoch mean)"
    return f"{quantity} (final)"


def grouped_comparison(groups: Sequence[SeedGroup], mismatches: dict[str, ProtocolMismatch]) -> GroupedComparison:
    import pandas as pd  # on first use: see ganlab.page.figures

    finals = {run.name: final_values(run) for group in groups for run in group.runs}
    quantities = list(dict.fromkeys(q for values in finals.values() for q in values))
    runs = pd.DataFrame(
        [
            {
                "run": run.name,
                "group": group.name,
                "seed": run.meta.get("seed"),
                "status": run.status,
                "path": str(run.run_dir.path),
                **{q: finals[run.name].get(q) for q in quantities},
            }
            for group in groups
            for run in group.runs
        ]
    )
    values = {(group.name, q): [finals[run.name].get(q) for run in group.runs] for group in groups for q in quantities}
    spreads = pd.DataFrame(
        [
            {"group": group.name, "quantity": q, **dataclasses.asdict(spread(values[group.name, q]))}
            for group in groups
            for q in quantities
        ]
    )
    rows = []
    for q in quantities:
        for a, b in itertools.combinations(groups, 2):
            found = difference(values[a.name, q], values[b.name, q])
            rows.append(
                {
                    "quantity": q,
                    "group_a": a.name,
                    "group_b": b.name,
                    "difference": found.value,
                    "low": found.low,
                    "high": found.high,
                    "verdict": verdict(q, found, mismatches),
                }
            )
    differences = pd.DataFrame(rows, columns=["quantity", "group_a", "group_b", "difference", "low", "high", "verdict"])
    return GroupedComparison(spreads, runs, differences, statement(groups, differences))


def verdict(quantity: str, found: Difference, mismatches: dict[str, ProtocolMismatch]) -> str:
    if quantity in mismatches:
        return NOT_COMPARABLE
    return UNKNOWN if found.outside is None else (OUTSIDE if found.outside else WITHIN)


VERDICT_HEADINGS = {
    OUTSIDE: f"Outside the seed spread (the {CONFIDENCE:.0%} bootstrap interval of the difference of the "
    "means excludes 0):",
    WITHIN: "Within the seed spread (the interval includes 0: the seeds alone could make this gap):",
    UNKNOWN: "Spread unknown (a group has fewer than two runs with this number, and one seed says nothing "
    "about the next):",
    NOT_COMPARABLE: "Not comparable (the runs measured it with different protocols):",
}


def statement(groups: Sequence[SeedGroup], differences: pd.DataFrame) -> str:
    """Which differences between groups are larger than the seed-to-seed spread, in plain words."""
    runs = sum(len(group.runs) for group in groups)
    if len(groups) == 1:
        return (
            f"All {runs} runs differ only in their seed: one setting, so there is no difference between "
            "settings to judge; the group table gives its seed spread."
        )
    if all(len(group.runs) == 1 for group in groups):
        return (
            "No two runs differ only in their seed, so the seed spread is unknown and no difference "
            "between these runs can be told from seed-to-seed variation; run each setting with several "
            "seeds (ganlab sweep --seeds 3) to find out."
        )
    lines = []
    for verdict_text, heading in VERDICT_HEADINGS.items():
        chosen = differences[differences["verdict"] == verdict_text]
        if chosen.empty:
            continue
        lines.append(heading)
        lines += [
            f"  - {quantity_label(row.quantity)}: {row.group_b} minus {row.group_a} = "
            + (
                _signed(row.difference)
                if math.isfinite(row.difference)
                else "no difference (a group has no run with this number yet)"
            )
            + (f" [{_signed(row.low)}, {_signed(row.high)}]" if verdict_text in (OUTSIDE, WITHIN) else "")
            for row in chosen.itertuples()
        ]
    return "\n".join(lines)


def _signed(value: float) -> str:
    return f"{value:+.4g}"


def spread_text(found: Spread) -> str:
    """A group's number as a cell: mean, and with two runs or more ± std and the interval; with n."""
    if found.n == 0:
        return "-"
    if found.n == 1:
        return f"{h.format_value(found.mean)} (n=1)"
    return (
        f"{h.format_value(found.mean)} ± {h.format_value(found.std)} "
        f"[{h.format_value(found.low)}, {h.format_value(found.high)}] (n={found.n})"
    )


def group_table(
    groups: Sequence[SeedGroup], grouped: GroupedComparison, mismatches: dict[str, ProtocolMismatch]
) -> pd.DataFrame:
    """Quantities as rows, groups as columns, every cell text: the group table of the terminal and page."""
    import pandas as pd  # on first use: see ganlab.page.figures

    frame = grouped.groups
    quantities = list(dict.fromkeys(frame["quantity"])) if not frame.empty else []
    rows = {"runs": [str(len(group.runs)) for group in groups]}
    for q in quantities:
        cells = []
        for group in groups:
            row = frame[(frame["group"] == group.name) & (frame["quantity"] == q)].iloc[0]
            cells.append(
                spread_text(Spread(int(row["n"]), row["mean"], row["std"], row["low"], row["high"]))
                + (" \u2020" if q in mismatches else "")
            )
        rows[quantity_label(q)] = cells
    return pd.DataFrame(rows, index=[group.name for group in groups]).T


HOW_TO_READ = (
    f"Each cell: the mean over the group's seeds ± their standard deviation (ddof=1) "
    f"[the {CONFIDENCE:.0%} percentile-bootstrap interval of the mean, {RESAMPLES:,} resamples, "
    "seeded] (n: runs with a finite value). With n=1 the spread is unknown."
)


def groups_text(
    groups: Sequence[SeedGroup], grouped: GroupedComparison, mismatches: dict[str, ProtocolMismatch]
) -> str:
    """The grouped comparison as the terminal shows it: who is in which group, the table, the statement;
    only the statement when every run is a group of its own."""
    import pandas as pd  # on first use: see ganlab.page.figures

    if all(len(group.runs) == 1 for group in groups):
        return grouped.statement

    members = [f"{group.name}: {', '.join(run.name for run in group.runs)}" for group in groups]
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        table = group_table(groups, grouped, mismatches).to_string()
    return "\n".join(
        ["Groups (runs that differ only in their seed):", *members, "", table, HOW_TO_READ, "", grouped.statement]
    )
