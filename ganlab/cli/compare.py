"""``ganlab compare RUN [RUN ...] [-o FILE]``: runs side by side, in the terminal and as one HTML page."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..common.errors import RunError
from ..compare.run_set import expand


@click.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("compare.html"),
    show_default=True,
    help="Write the page here.",
)
def compare(runs: tuple[str, ...], output: Path) -> None:
    """Compare two or more runs: RUN is a run directory, a folder of runs, or a quoted glob ('runs/sweep-*').

    Prints a table with one column per run, then writes a self-contained HTML page (recipe differences,
    overlaid curves, D distributions, final samples) and prints its path as the last line.
    """
    from ..compare.page import compare as make_comparison  # pandas and matplotlib load only when comparing
    from ..compare.page import write_page
    from ..loading.manager import load_plugins_or_warn

    run_dirs = expand(runs)
    if os.path.isdir(output):  # os.path's test: a path too long to look at is no folder, and the write names it
        raise RunError(f"-o {str(output)!r} is a folder; give the path of the HTML file to write")
    plugins = load_plugins_or_warn()
    comparison = make_comparison(run_dirs)
    click.echo(comparison.terminal_text())
    try:
        path = write_page(comparison, plugins, output)
    except OSError as e:
        raise RunError(f"cannot write the page to {str(output)!r}: {e.strerror or e}") from None
    click.echo(str(path))
