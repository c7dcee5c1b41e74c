"""Assemble a comparison of runs from their run directories alone, and write it as one HTML page."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.atomic import atomic_write_text
from ..loading.manager import Plugins
from ..page import html as h
from ..report.core_sections import by_metric
from ..rundir.rundir import RunDir
from .compared_run import ComparedRun, load_runs
from .groups import group_curves_section, group_metrics_section, groups_section
from .metric_protocols import ProtocolMismatch, protocol_mismatch
from .recipe_diff import recipe_differences
from .run_set import display_names
from .samples import final_grids
from .sections import (
    curves_section,
    distributions_section,
    metrics_section,
    overview_section,
    recipe_section,
    samples_section,
)
from .seed_groups import GroupedComparison, SeedGroup, grouped_comparison, groups_text, seed_groups
from .summary import summary_frame, terminal_text

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass
class Comparison:
    runs: list[ComparedRun]
    mismatches: dict[str, ProtocolMismatch]
    summary: pd.DataFrame
    groups: list[SeedGroup]
    grouped: GroupedComparison

    @property
    def has_seed_spread(self) -> bool:
        """Whether some setting was run with several seeds, so that its groups, not its runs, are compared."""
        return any(len(group.runs) > 1 for group in self.groups)

    def terminal_text(self) -> str:
        return "\n\n".join(
            [
                terminal_text(self.summary, self.runs, self.mismatches),
                groups_text(self.groups, self.grouped, self.mismatches),
            ]
        )


def compare(run_dirs: Sequence[RunDir]) -> Comparison:
    runs = load_runs(run_dirs, display_names(run_dirs))
    evaluations = [run.evaluations for run in runs]
    metrics = dict.fromkeys(m for records in evaluations for m in by_metric(records))
    mismatches = {m: found for m in metrics if (found := protocol_mismatch(m, evaluations)) is not None}
    groups = seed_groups(runs)
    return Comparison(runs, mismatches, summary_frame(runs, mismatches), groups, grouped_comparison(groups, mismatches))


def build_page(comparison: Comparison, plugins: Plugins) -> str:
    runs = comparison.runs
    sections = [
        overview_section(runs, comparison.summary, comparison.mismatches),
        groups_section(comparison.groups, comparison.grouped, comparison.mismatches),
        recipe_section(runs, recipe_differences([run.recipe for run in runs])),
        *(
            [group_curves_section(comparison.groups), group_metrics_section(comparison.groups, comparison.mismatches)]
            if comparison.has_seed_spread
            else [curves_section(runs), metrics_section(runs, comparison.mismatches)]
        ),
        distributions_section(runs),
        samples_section(final_grids(runs, plugins)),
    ]
    statuses = ", ".join(f"{run.name} {run.status}" for run in runs)
    return h.page(f"ganlab compare: {len(runs)} runs", h.escape(statuses), sections)


def write_page(comparison: Comparison, plugins: Plugins, path: Path) -> Path:
    atomic_write_text(path, build_page(comparison, plugins))
    return path
