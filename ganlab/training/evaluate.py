"""Scoring a run's checkpoints after the fact (what ``ganlab evaluate RUN_DIR`` does), appending to its
evaluations.

The run is rebuilt from its own ``recipe.toml`` and put back where each checkpoint (loaded with
``weights_only=True``) left it, EMA weights included; every metric evaluator scores it exactly as during
training, and the scores land in
``evaluations.jsonl`` with the checkpoint's step and epoch and a ``checkpoint`` field naming the file.
A checkpoint is scored only after it passes the same manifest check (size and SHA-256) that resume uses,
so a truncated, damaged or replaced file never yields a score that looks like the run's. The run's loggers
hear of every score as they would during training: started where the run's logs end, finished afterwards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..common.errors import CheckpointError, RecipeError
from ..evaluators.metric_base import MetricEvaluator, Score
from ..loading.manager import Plugins
from ..recipes.recipe import Component, Recipe, load_recipe, resolve_component
from ..rundir.checkpoints import CheckpointRecord
from ..rundir.rundir import RunDir

COMMAND = "ganlab evaluate"
"""Where --metric and --num-samples problems come from: the command line, not the run's recipe."""


def metric_components(
    recipe: Recipe, plugins: Plugins, metrics: tuple[str, ...], sizes: dict[str, int]
) -> tuple[Component, ...]:
    """The evaluators to score with: the recipe's own settings where it names the evaluator, defaults otherwise,
    then ``sizes`` (``num_samples``, ``num_reference``: the command's options) wherever the evaluator has that
    setting; an evaluator named by ``--metric`` without it is refused, one taken from the recipe keeps its own."""
    registry = plugins.registry
    chosen: list[Component] = []
    problems: list[str] = []
    for name in metrics or tuple(h.name for h in recipe.evaluators):
        component = next((h for h in recipe.evaluators if h.name == name), None)
        if component is None:
            try:
                component = resolve_component({"name": name}, "evaluator", "--metric", registry, COMMAND)
            except RecipeError as e:
                problems.extend(e.problems)
                continue
        fields = {f.name for f in dataclasses.fields(component.config)}
        lacking = [key for key in sizes if key not in fields]
        if metrics and lacking:
            problems.extend(f"--{key.replace('_', '-')}: evaluator {name!r} has no {key} setting" for key in lacking)
            continue
        given = {key: value for key, value in sizes.items() if key in fields}
        chosen.append(dataclasses.replace(component, config=dataclasses.replace(component.config, **given)))
    if problems:
        raise RecipeError(COMMAND, problems)
    return tuple(chosen)


Chosen = list[tuple[Path, CheckpointRecord | None]]
"""Checkpoints to score, each with its manifest entry (None: the manifest does not list it)."""


def intact_checkpoints(run_dir: RunDir, warn: Callable[[str], None]) -> Chosen:
    """Every checkpoint the manifest lists that passes its check and loads; ``warn`` hears of each file passed
    over. Loading each one here costs a second read, so that a bad file is passed over before any scoring
    rather than stopping the command half way through."""
    store = run_dir.checkpoint_store
    unlisted = store.unlisted()
    for name in unlisted:
        warn(f"checkpoint {name} is not in the manifest; not scored (name it with --checkpoint to score it unverified)")
    chosen: Chosen = []
    for record in store.records():
        try:
            store.load(record)
        except CheckpointError as e:
            warn(f"{e}; not scored")
        else:
            chosen.append((store.directory / record.file, record))
    if not chosen:
        hint = "; name one with --checkpoint to score a file the manifest does not list" if unlisted else ""
        raise CheckpointError(
            f"{str(run_dir.path)!r} has no intact checkpoint listed in its manifest to evaluate{hint}"
        )
    return chosen


def logs_end(run_dir: RunDir) -> int:
    """The step the run's logs reach: where its loggers are started, since a logger drops what it logged
    after the step it starts at (a resume has cut that from the run's own logs), and a score of an earlier
    checkpoint must drop nothing."""
    return max((record["step"] for record in run_dir.read_metrics()), default=0)


def evaluate_run(
    path: Path,
    plugins: Plugins,
    metrics: tuple[str, ...] = (),
    num_samples: int | None = None,
    checkpoints: tuple[str, ...] = (),
    truncations: tuple[float, ...] = (),
    *,
    num_reference: int | None = None,
    warn: Callable[[str], None],
) -> list[tuple[Path, int, float | None, Score]]:
    """Score the chosen checkpoints of the run at ``path``, once per truncation psi in ``truncations``
    (untruncated latents where none is given: each psi's scores carry it in their protocol, so the
    trade-off of quality and diversity reads off evaluations.jsonl); returns (checkpoint, step, psi,
    score) per score."""
    from .assemble import build
    from .loop import Trainer
    from .state import load_checkpoint_state

    run_dir = RunDir.open(path)
    recipe = load_recipe(run_dir.recipe_path, plugins.registry)
    sizes = {key: n for key, n in (("num_samples", num_samples), ("num_reference", num_reference)) if n is not None}
    components = metric_components(recipe, plugins, metrics, sizes)
    store = run_dir.checkpoint_store
    chosen = [store.named(name, warn) for name in checkpoints] if checkpoints else intact_checkpoints(run_dir, warn)
    run_dir.lock()
    try:
        run_dir.prepare_for_writing()  # before the evaluators' folders are made and any score is appended
        built = build(dataclasses.replace(recipe, evaluators=components))
        evaluators = [(c, h) for c, h in built.evaluators if isinstance(h, MetricEvaluator)]
        if metrics and len(evaluators) < len(components):
            names = ", ".join(c.name for c, h in built.evaluators if not isinstance(h, MetricEvaluator))
            raise RecipeError("--metric", [f"{names}: not a metric evaluator (it produces no scores)"])
        if not evaluators:
            raise RecipeError(
                str(run_dir.recipe_path),
                [
                    "the recipe has no metric evaluators; choose one with "
                    "--metric (fid, kid, precision-recall, swd, diversity, ...)"
                ],
            )
        run = Trainer(built, run_dir, plugins, progress=False)
        run.step = logs_end(run_dir)
        results = []
        with run.loggers.started(run):
            for checkpoint, record in chosen:
                # Checked against the manifest again: scoring takes long and the file is read only now.
                load_checkpoint_state(run, store.read(checkpoint, record, built.device), checkpoint)
                for psi in truncations or (None,):
                    run.truncation = psi
                    for _, evaluator in evaluators:
                        scores = evaluator.evaluate(run, checkpoint=checkpoint.name)
                        results.extend((checkpoint, run.step, psi, s) for s in scores)
        return results
    finally:
        run_dir.unlock()
