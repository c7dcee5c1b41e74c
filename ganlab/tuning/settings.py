"""A study's settings, from ``ganlab tune``'s options or a recipe's ``[tune]`` table, through one dataclass
(:class:`TuneSettings`), as a sweep's are: each setting's type, bounds and help are declared once, the
options are made from it and the table is checked against it. Options given override the table's keys::

    [tune]
    trials = 40                 # and/or timeout (seconds)
    objective = "fid"           # a logged evaluation; its direction comes from the metric
    pruner = "median"           # or "successive-halving", "none"
    recheck_top = 3             # re-run the best 3 settings ...
    recheck_seeds = 3           # ... over 3 fresh seeds
    [tune.space]
    "optimizer.generator.lr" = { low = 1e-5, high = 1e-3, log = true }
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..common.config import MAX_SEED, build_config, param
from ..common.errors import RecipeError
from ..recipes.recipe import TUNE_SECTION
from ..sweeps.table import LaunchSettings, RecipeFile
from .space import SPACE_TABLE, Dimension, parse_space_options, read_space

MAX_TRIALS = 10_000
"""The most trials one study may have: a study's report and re-check read every one."""
PRUNERS = ("median", "successive-halving", "none")


@dataclasses.dataclass(frozen=True)
class TuneSettings(LaunchSettings):
    """How a recipe is tuned: ``[tune]``'s keys, each also an option of ``ganlab tune`` (``recheck_top``
    is ``--recheck-top``) but ``space``, read into dimensions by :func:`study_definition`."""

    objective: str | None = param(
        None, "The logged evaluation to optimise (fid, kid, swd, ...); minimised or maximised as the metric declares."
    )
    trials: int | None = param(
        None, "Trials of the study in all (a study run again adds only the missing ones).", min=1, max=MAX_TRIALS
    )
    timeout: int | None = param(
        None, "Wall time in seconds after which this command starts no new trial (the running ones end).", min=1
    )
    pruner: Literal["median", "successive-halving", "none"] = param(
        "median", "What stops hopeless trials at an evaluation: median, successive-halving, or none."
    )
    startup_trials: int = param(
        5, "Complete trials the median pruner waits for before it prunes any.", min=0, max=MAX_TRIALS
    )
    sampler_seed: int | None = param(
        None, "Seed of the TPE sampler (default: the recipe's experiment.seed).", min=0, max=MAX_SEED
    )
    recheck_top: int = param(3, "The best settings re-run over fresh seeds after the search.", min=2, max=20)
    recheck_seeds: int = param(3, "Fresh seeds each re-checked setting runs with.", min=2, max=100)
    name: str | None = param(None, "The study's folder name (default: <experiment.name>-tune).")
    jobs: int = param(1, "Trials at a time (local processes, or submitit jobs).", min=1, max=1024)
    space: dict = param(
        {},
        "[tune.space]: each recipe key (quoted) and its distribution: { low, high, log } or { choices = [...] }",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.trials is None and self.timeout is None:
            raise ValueError("a study needs a budget: trials = N, timeout = SECONDS, or both (--trials, --timeout)")
        if self.objective is None:
            raise ValueError('objective: required; the logged evaluation to optimise, e.g. objective = "swd"')
        if self.trials is not None and self.recheck_top > self.trials:
            raise ValueError(
                f"recheck_top = {self.recheck_top} re-checks more settings than the study's {self.trials} trials"
            )


def study_definition(
    file: RecipeFile, space_options: tuple[str, ...] | list[str], given: dict[str, Any]
) -> tuple[list[Dimension], TuneSettings | None]:
    """The space and settings of a study: the file's ``[tune]`` table, overridden by the ``--space``
    options and the ``given`` options (by :class:`TuneSettings` field). A RecipeError of the file names
    every problem of the table and the options at once (``tune.space."optimizer.generator.lr": ...``)."""
    table = {} if file.table is None else file.table
    if not isinstance(table, dict):
        raise RecipeError(file.source, [f"{TUNE_SECTION}: expected a table ([tune]), got {type(table).__name__}"])
    settings, problems = build_config(TuneSettings, {**table, **given}, TUNE_SECTION)
    options, option_problems = parse_space_options(space_options)
    dimensions, space_problems = read_space(table.get(SPACE_TABLE, {}), options)
    problems = [*problems, *option_problems, *space_problems]
    if problems:
        raise RecipeError(file.source, problems)
    return dimensions, settings
