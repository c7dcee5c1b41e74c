"""A study checked whole before anything is made: its settings and space, the base recipe, every end of
every range and every choice against the recipe, the objective against what the recipe's evaluators log,
and whether the pruner will see a value before a trial ends. Every problem is a RecipeError naming the
file and the key; nothing is created for a refused study.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..common.errors import GanlabError, RecipeError
from ..common.tomlwrite import value_text
from ..contracts.engine import Metric
from ..loading.manager import Plugins
from ..recipes.recipe import TUNE_SECTION, Recipe, resolve
from ..sweeps.table import RecipeFile, read_recipe_file
from ..training.assemble import Built, build, steps_per_epoch, total_steps
from .settings import TuneSettings, study_definition
from .space import Dimension, space_problems
from .storage import OPTUNA_MISSING

SCHEDULE_SECTIONS = ("train", "evaluators", "data")
"""Sections whose searched settings may change when the objective is first scored (epochs, steps per epoch,
an evaluator's ``every``): the objective is checked again at each end of their ranges."""


@dataclasses.dataclass(frozen=True)
class TuneRequest:
    """What ``ganlab tune`` was asked: the recipe (with or without a ``[tune]`` table), ``--space``,
    ``--set``, ``--out``, and the options given, by :class:`TuneSettings` field (``{"trials": 20}``)."""

    recipe: Path
    space: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    out: Path = Path("runs")
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """A study as checked: the file, the base recipe with the shared overrides, the space, the settings,
    the objective's metric and the evaluator that logs it."""

    file: RecipeFile
    overrides: tuple[str, ...]
    base: Recipe
    dimensions: list[Dimension]
    settings: TuneSettings
    metric: Metric
    evaluator: str

    @property
    def direction(self) -> str:
        """Optuna's word for the objective's way: ``maximize`` or ``minimize``."""
        return "maximize" if self.metric.higher_is_better else "minimize"

    @property
    def sampler_seed(self) -> int:
        return self.settings.sampler_seed if self.settings.sampler_seed is not None else self.base.experiment.seed


def require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise GanlabError(OPTUNA_MISSING) from None


def plan_study(request: TuneRequest, plugins: Plugins) -> StudyPlan:
    """Read and check the study (:func:`read_study`), then the objective against the built recipe's
    evaluators."""
    file, dimensions, settings, base = read_study(request, plugins)
    require_optuna()
    metric, evaluator = objective_of(build(base), settings, file.source)
    for dimension in dimensions:  # a searched length of training or evaluator setting moves the first value
        if dimension.setting[0] in SCHEDULE_SECTIONS:
            for value in dimension.checked_values():
                trial = [*request.overrides, f"{dimension.key}={value_text(value)}"]
                try:
                    objective_of(build(resolve(file.base, plugins.registry, file.source, trial)), settings, file.source)
                except RecipeError as e:
                    where = f"{dimension.where} = {value_text(value)}"
                    raise RecipeError(e.source, [f"{where}: {p}" for p in e.problems]) from None
    return StudyPlan(file, tuple(request.overrides), base, dimensions, settings, metric, evaluator)


def read_study(request: TuneRequest, plugins: Plugins) -> tuple[RecipeFile, list[Dimension], TuneSettings, Recipe]:
    """The study's file, space, settings and base recipe, every problem of the table, the options and the
    recipe at once; then each searched value against the recipe. Builds nothing."""
    file = read_recipe_file(request.recipe, TUNE_SECTION)
    problems: list[str] = []
    dimensions: list[Dimension] = []
    settings = None
    try:
        dimensions, settings = study_definition(file, request.space, request.options)
        problems += space_problems(dimensions, request.overrides)
    except RecipeError as e:
        problems += e.problems
    try:
        base = resolve(file.base, plugins.registry, file.source, list(request.overrides))
    except RecipeError as e:
        problems += e.problems
    if problems:
        raise RecipeError(file.source, problems)
    check_searched_values(file, request.overrides, dimensions, plugins)
    return file, dimensions, settings, base


def check_searched_values(
    file: RecipeFile, overrides: tuple[str, ...], dimensions: list[Dimension], plugins: Plugins
) -> None:
    """Each end of each range and each choice on its own against the recipe: a RecipeError names every value
    the recipe does not take (a learning rate out of its bounds, an unregistered component) and why."""
    problems: list[str] = []
    for dimension in dimensions:
        for value in dimension.checked_values():
            try:
                resolve(file.base, plugins.registry, file.source, [*overrides, f"{dimension.key}={value_text(value)}"])
            except RecipeError as e:
                where = f"{dimension.where} = {value_text(value)}"
                problems += [f"{where}: {p}" for p in e.problems if f"{where}: {p}" not in problems]
    if problems:
        raise RecipeError(file.source, problems)


def objective_of(built: Built, settings: TuneSettings, source: str) -> tuple[Metric, str]:
    """The metric the objective names, as the evaluator that logs it declares it, and that evaluator's
    section; refused when no evaluator (or more than one) logs it, and, with a pruner, when the evaluator
    scores it first only as a trial ends (the pruner would have nothing to judge)."""
    objective = settings.objective
    where = f"{TUNE_SECTION}.objective"
    logging = [(component, evaluator) for component, evaluator in built.evaluators if declares(evaluator, objective)]
    if not logging:
        logged = sorted({m.name for _, e in built.evaluators for m in declared(e)})
        raise RecipeError(
            source,
            [
                f"{where}: no evaluator of the recipe logs {objective!r}"
                + (f"; its evaluators log: {', '.join(logged)}" if logged else "; it has no scoring evaluator")
                + " (add one, e.g. --set 'evaluators[+]={name=\"swd\", every=1}')"
            ],
        )
    if len(logging) > 1:
        sections = ", ".join(component.section for component, _ in logging)
        raise RecipeError(source, [f"{where}: {objective!r} is logged by {sections}; keep one of them"])
    component, evaluator = logging[0]
    metric = next(m for m in declared(evaluator) if m.name == objective)
    if settings.pruner != "none":
        steps = total_steps(len(built.dataset), built.recipe.train)
        per_epoch = steps_per_epoch(len(built.dataset), built.recipe.train)
        every = getattr(evaluator, "every", None)
        if every is None or every * per_epoch >= steps:
            when = "only as a run ends" if every is None else f"first at epoch {every}"
            raise RecipeError(
                source,
                [
                    f"{where}: {component.section} ({component.name}) scores {objective!r} {when}, and a trial "
                    f"trains {steps} steps ({steps / max(per_epoch, 1):g} epochs): pruner = "
                    f'"{settings.pruner}" would never see a value before a trial ends; lower '
                    f'{component.section}.every, train longer, or set pruner = "none"'
                ],
            )
    return metric, component.section


def declared(evaluator: Any) -> list[Metric]:
    """The metrics an evaluator declares (:attr:`ganlab.Evaluator.metrics`), its entries that are no
    :class:`ganlab.Metric` left out: a metric without a direction cannot be an objective."""
    return [m for m in getattr(evaluator, "metrics", ()) if isinstance(m, Metric)]


def declares(evaluator: Any, objective: str) -> bool:
    return any(metric.name == objective for metric in declared(evaluator))
