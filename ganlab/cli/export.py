"""``ganlab export``: a run's generator as TorchScript, ONNX or safetensors with a model card; the work is
done in :mod:`ganlab.models.export`."""

from __future__ import annotations

from pathlib import Path

import click

from ..models.export import FORMATS, export_run


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--checkpoint",
    default=None,
    metavar="K",
    help="Checkpoint file name in checkpoints/, or an epoch number (default: the newest valid).",
)
@click.option("--format", "format_", type=click.Choice(FORMATS), required=True, help="What to write.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="The file to write; its model card goes beside it (FILE.card.json, FILE.card.md).",
)
@click.option("--force", is_flag=True, help="Replace the file and its model card if they exist.")
def export(run_dir: Path, checkpoint: str | None, format_: str, output: Path, force: bool) -> None:
    """Export the generator of RUN_DIR (its EMA weights when it kept them) for use without ganlab, checked
    against ganlab's own images; prints the check, the model card and the file written."""
    from ..common.errors import warn
    from ..loading.manager import load_plugins_or_warn
    from ..rundir.rundir import RunDir

    run = RunDir.open(run_dir)
    exported = export_run(run, load_plugins_or_warn(), format_, output, checkpoint, force, warn)
    click.echo(exported.verification.sentence())
    click.echo(f"model card: {exported.card_json} and {exported.card_markdown}")
    click.echo(str(exported.path))
