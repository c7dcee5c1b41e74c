"""One run of a comparison, read from its run directory: whatever of it exists, and what is missing.

A run that failed early, or one trained without some evaluators, still has something to compare; so every file
is optional here, and each gap becomes a sentence on the page instead of an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..common.errors import GanlabError
from ..common.files import read_json
from ..evaluators.series import metrics_frame
from ..evaluators.training_health import FILES as HEALTH_FILES
from ..evaluators.training_health import FLAGS
from ..page.figures import run_colors
from ..recipes.recipe import read_toml
from ..rundir.rundir import RunDir

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass
class ComparedRun:
    name: str
    color: str
    run_dir: RunDir
    meta: dict[str, Any]
    recipe: dict[str, Any] | None
    metrics: pd.DataFrame
    evaluations: list[dict[str, Any]]
    missing: list[str]
    """What could not be read, in words, for the page to say."""

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))

    def epochs(self) -> pd.Series:
        """Training progress of every logged step in epochs (1.5: half-way through the second), so runs with
        different batch sizes or data sets line up on one axis."""
        return self.metrics["step"] / steps_per_epoch(self.meta, self.metrics)

    def health_flags(self) -> list[dict[str, Any]] | None:
        """The training-health verdict the run left (a list, empty when healthy); None if it left none."""
        path = HEALTH_FILES.path(self.run_dir, FLAGS)
        try:
            flags = read_json(path)
        except (OSError, ValueError):
            return None
        return [flag for flag in flags if isinstance(flag, dict)] if isinstance(flags, list) else None


def steps_per_epoch(meta: dict[str, Any], metrics: pd.DataFrame) -> float:
    """The first epoch's step count once a later epoch has begun (it is then complete); else the plan."""
    counts = metrics.groupby("epoch")["step"].count()
    if len(counts) > 1:
        return float(counts.iloc[0])
    epochs, total = meta.get("epochs"), meta.get("total_steps")
    if isinstance(epochs, int) and isinstance(total, int) and epochs > 0 and total > 0:
        return max(1.0, total / epochs)
    return float(max(len(metrics), 1))


def load_run(run_dir: RunDir, name: str, color: str) -> ComparedRun:
    missing = []
    try:
        meta = run_dir.read_checked_meta()
    except GanlabError as e:
        meta = {}
        missing.append(str(e))
    recipe = None
    if not run_dir.recipe_path.is_file():
        missing.append("no recipe.toml, so its settings cannot be compared")
    else:
        try:
            recipe = read_toml(run_dir.recipe_path)
        except GanlabError as e:
            missing.append(f"recipe.toml is unreadable, so its settings cannot be compared: {e}")
    metrics = metrics_frame(run_dir)
    if metrics.empty:
        missing.append("no training step was logged (metrics.jsonl is missing or empty)")
    return ComparedRun(name, color, run_dir, meta, recipe, metrics, run_dir.read_evaluations(), missing)


def load_runs(run_dirs: Sequence[RunDir], names: Sequence[str]) -> list[ComparedRun]:
    return [load_run(run, name, color) for run, name, color in zip(run_dirs, names, run_colors(len(run_dirs)))]
