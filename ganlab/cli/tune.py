"""``ganlab tune RECIPE``: search a recipe's ``[tune]`` space with Optuna, prune hopeless trials on a real
score, and re-check the best settings over fresh seeds.

The options are made from :class:`ganlab.tuning.settings.TuneSettings`, the dataclass a recipe's ``[tune]``
table is checked against, so an option and its table key take the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..recipes.recipe import TUNE_SECTION
from ..tuning.settings import TuneSettings
from ..tuning.space import SPACE_TABLE
from .options import out_option, override_option
from .sweep import settings_options


@click.command("tune")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option(
    "--space",
    "space",
    multiple=True,
    metavar="KEY={low = ..., high = ...}",
    help="A recipe key and its distribution, as a TOML inline table: {low = 1e-5, high = 1e-3, log = true}, "
    "{low = 1, high = 5} or {choices = [...]} (repeatable); replaces that key in the recipe's [tune.space].",
)
@override_option
@out_option("the study's folder")
@settings_options(TuneSettings, TUNE_SECTION, (SPACE_TABLE,))
def tune(recipe: Path, space: tuple[str, ...], overrides: tuple[str, ...], out: Path, **options: Any) -> None:
    """Search RECIPE's [tune] space: each trial an ordinary run directory in OUT/NAME/ beside the study's
    SQLite database (study.db); then re-run the best settings over fresh seeds (OUT/NAME/recheck/), print
    the grouped comparison and whether the winner's lead is outside the seed spread, write the study
    report, and print the study's folder as the last line.

    --set applies to every trial. The same command again continues the study: finished trials are kept,
    trials whose process died are resumed from their checkpoints.
    """
    from ..loading.manager import load_plugins_or_warn
    from ..tuning.plan import TuneRequest
    from ..tuning.search import run_study

    given = {name: value for name, value in options.items() if value is not None}
    folder = run_study(TuneRequest(recipe, space, overrides, out, given), load_plugins_or_warn(), click.echo)
    click.echo(str(folder / "report.html"))
    click.echo(str(folder))
