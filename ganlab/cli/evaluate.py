"""``ganlab evaluate RUN_DIR``: score a run's checkpoints after the fact; the scoring is
:func:`ganlab.training.evaluate.evaluate_run`'s."""

from __future__ import annotations

from pathlib import Path

import click

from ..common.errors import warn
from ..loading.manager import load_plugins_or_warn
from ..training.evaluate import evaluate_run
from .options import Truncations, WholeNumber


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="Metric evaluator to score with (repeatable): fid, kid, precision-recall, density-coverage, "
    "memorisation, swd, diversity or a plugin's. Default: every metric evaluator in the run's recipe.",
)
@click.option(
    "--num-samples",
    type=WholeNumber(min=2),
    default=None,
    help="Generated images per score (default: the evaluator's setting).",
)
@click.option(
    "--num-reference",
    type=WholeNumber(min=2),
    default=None,
    help="Real images each score compares with, at most the whole reference set (default: the evaluator's "
    "setting; fewer featurise faster on a CPU, and scores of different counts are not compared).",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    metavar="K",
    help="Epoch number or checkpoint file name (repeatable). Default: every checkpoint that "
    "passes its manifest check (size and SHA-256).",
)
@click.option(
    "--truncation",
    "truncations",
    type=Truncations(several=True),
    default=(),
    metavar="PSI[,PSI...]",
    help="Score with latents truncated at each PSI (the truncation trick of ganlab generate), e.g. 0.5,0.7,1; "
    "each score records its psi. Default: untruncated latents.",
)
def evaluate(
    run_dir: Path,
    metrics: tuple[str, ...],
    num_samples: int | None,
    num_reference: int | None,
    checkpoints: tuple[str, ...],
    truncations: tuple[float, ...],
) -> None:
    """Score the checkpoints of RUN_DIR and append the scores to its evaluations.jsonl."""
    results = evaluate_run(
        run_dir,
        load_plugins_or_warn(),
        metrics,
        num_samples,
        checkpoints,
        truncations,
        num_reference=num_reference,
        warn=warn,
    )
    for checkpoint, step, psi, score in results:
        std = "" if score.std is None else f" ± {score.std:.6g}"
        at = "" if psi is None else f"  truncation {psi:g}"
        click.echo(f"{checkpoint.name}  step {step}{at}  {score.metric} = {score.value:.6g}{std}")
    click.echo(f"appended {len(results)} scores to {run_dir / 'evaluations.jsonl'}")
