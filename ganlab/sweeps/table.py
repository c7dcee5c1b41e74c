"""A sweep's settings, from the command line's options or a recipe's ``[sweep]`` table, through one
dataclass: :class:`SweepSettings` declares each setting's type, bounds and help once, ``ganlab sweep``'s
options are made from it and the table is checked against it, so the two forms cannot drift apart.

A recipe file with a ``[sweep]`` table is a sweep: the file without the table is its base recipe, the
table says how to sweep it::

    [sweep]
    seeds = 3
    jobs = 2
    [sweep.grid]
    "loss.real_label" = [0.9, 1.0]

Options given on the command line as well override the table's settings, and a ``--grid`` for a setting
the table has, however spelt (``evaluators[0].every`` or ``evaluators.0.every``), replaces that key's values.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from ..common.config import build_config, param
from ..common.errors import RecipeError
from ..recipes.recipe import SWEEP_SECTION, read_toml
from .launchers import SlurmOptions
from .plan import MAX_RUNS, GridAxis, checked_axes, parse_grid

GRID_TABLE = "grid"
"""The sub-table of ``[sweep]`` that holds the grid: ``[sweep.grid]``."""


@dataclasses.dataclass(frozen=True)
class LaunchSettings:
    """How runs are launched, the settings every command that launches many runs shares (``ganlab sweep``,
    ``ganlab tune``): each a key of its table and an option (``slurm_time`` is ``--slurm-time``)."""

    threads: int | None = param(
        None, "Torch threads of each run (local launcher; default: the cores / jobs).", min=1, max=4096
    )
    launcher: Literal["local", "submitit"] = param(
        "local", "local: ganlab run processes here; submitit: one submitit job per run (Slurm)."
    )
    submitit_cluster: Literal["auto", "slurm", "local"] = param(
        "auto", "Where submitit runs the jobs; auto: Slurm if it is here, else locally."
    )
    slurm_partition: str | None = param(None, "Slurm partition of the jobs.")
    slurm_time: int | None = param(None, "Time limit of each job, in minutes.", min=1)
    slurm_gpus: int | None = param(None, "GPUs per job.", min=0)
    slurm_cpus: int | None = param(None, "CPU cores per job.", min=1)
    slurm_mem: int | None = param(None, "Memory per job, in GB.", min=1)

    def __post_init__(self) -> None:
        if self.launcher == "submitit" and self.threads:
            raise ValueError(
                "threads (--threads) is for the local launcher; with submitit the scheduler decides on "
                "how many cores a job runs (slurm_cpus, --slurm-cpus)"
            )

    @property
    def slurm(self) -> SlurmOptions:
        return SlurmOptions(
            self.submitit_cluster,
            self.slurm_partition,
            self.slurm_time,
            self.slurm_gpus,
            self.slurm_cpus,
            self.slurm_mem,
        )


@dataclasses.dataclass(frozen=True)
class SweepSettings(LaunchSettings):
    """How a recipe is swept: ``[sweep]``'s keys, each also an option of ``ganlab sweep`` (``jobs`` is
    ``--jobs``, ``slurm_time`` is ``--slurm-time``) but ``grid``, which is checked here as a table and
    read into grid axes by :func:`sweep_definition`."""

    seeds: int = param(1, "Seeds per combination: experiment.seed, experiment.seed + 1, ...", min=1, max=MAX_RUNS)
    name: str | None = param(None, "The sweep's folder name (default: <experiment.name>-sweep).")
    jobs: int = param(
        1, "Runs at a time on this machine (local launcher); the cores are shared out between them.", min=1, max=1024
    )
    grid: dict = param(
        {},
        "[sweep.grid]: each grid key (a dotted recipe key, quoted) and the values the sweep "
        'gives it, "loss.real_label" = [0.9, 1.0]',
    )

    def __post_init__(self) -> None:
        if self.launcher == "submitit" and (self.jobs > 1 or self.threads):
            raise ValueError(
                "jobs and threads (--jobs, --threads) are for the local launcher; with submitit "
                "the scheduler decides how many jobs run at once, on how many cores (slurm_cpus, "
                "--slurm-cpus)"
            )


@dataclasses.dataclass(frozen=True)
class RecipeFile:
    """A recipe file read for a sweep or a study: its base recipe (the document without the table the
    command reads, ``[sweep]`` or ``[tune]``) and that table, None when the file has none."""

    source: str
    base: dict[str, Any]
    table: Any


def read_recipe_file(path: Path, section: str) -> RecipeFile:
    document = read_toml(Path(path))
    table = document.pop(section, None)
    return RecipeFile(str(path), document, table)


def sweep_definition(
    file: RecipeFile, grid_options: tuple[str, ...] | list[str], given: dict[str, Any]
) -> tuple[list[GridAxis], SweepSettings]:
    """The grid and settings of a sweep: the file's ``[sweep]`` table, overridden by the ``--grid``
    options and the ``given`` options (by :class:`SweepSettings` field). A RecipeError of the file names
    every problem of the table and the options at once (``sweep.grid."loss.real_label": ...``)."""
    table = {} if file.table is None else file.table
    if not isinstance(table, dict):
        raise RecipeError(file.source, [f"{SWEEP_SECTION}: expected a table ([sweep]), got {type(table).__name__}"])
    settings, problems = build_config(SweepSettings, table, SWEEP_SECTION)
    if not problems:
        settings, problems = build_config(SweepSettings, {**table, **given}, SWEEP_SECTION)
    grid = table.get(GRID_TABLE, {})
    try:
        options = parse_grid(grid_options, file.source)
    except RecipeError as e:
        problems, options = [*problems, *e.problems], []
    replaced = {axis.setting for axis in options}
    in_table = (
        [
            axis
            for axis in (GridAxis(key, values, in_table=True) for key, values in grid.items())
            if axis.setting not in replaced
        ]
        if isinstance(grid, dict)
        else []
    )
    for axis in [axis for axis in in_table if isinstance(axis.values, dict)]:
        problems.append(
            f"{axis.where}: a table, not an array of values: quote a dotted grid key "
            f'("{axis.key}.{next(iter(axis.values), "key")}" = [...]), or TOML reads it as tables'
        )
        in_table.remove(axis)
    axes = checked_axes(in_table + options, file.source, problems)
    return axes, settings
