"""``ganlab report RUN_DIR [-o FILE]``: rebuild a run's HTML report from its run directory alone."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..common.errors import RunError
from ..rundir.rundir import RunDir


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the page here instead of RUN_DIR/report.html.",
)
def report(run_dir: Path, output: Path | None) -> None:
    """(Re)build the self-contained HTML report of the run in RUN_DIR, or the study report of a ganlab tune
    study's folder; prints where it was written."""
    from ..loading.manager import load_plugins_or_warn
    from ..report.build import write_report  # matplotlib and pandas load only when a report is made
    from ..tuning.study import RECORD

    # os.path's tests, not pathlib's: a path too long to look at is then no folder and no study, and
    # RunDir.open names what is wrong with it instead of an OSError escaping
    if output is not None and os.path.isdir(output):
        raise RunError(f"-o {str(output)!r} is a folder; give the path of the HTML file to write")
    if os.path.isfile(run_dir / RECORD):
        from ..tuning.report import write_study_report

        try:
            click.echo(str(write_study_report(run_dir, load_plugins_or_warn(), output)))
        except OSError as e:
            raise RunError(f"cannot write the study report: {e.strerror or e}") from None
        return
    run = RunDir.open(run_dir)
    plugins = load_plugins_or_warn()
    try:
        path = write_report(run, plugins.registry, output)
    except OSError as e:
        target = output or run.report_path
        raise RunError(f"cannot write the report to {str(target)!r}: {e.strerror or e}") from None
    click.echo(str(path))
