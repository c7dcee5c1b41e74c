"""``ganlab sweep RECIPE --grid KEY=[...] --seeds N``: a recipe over a grid of settings and seeds.

The sweep's options are made from :class:`ganlab.sweeps.table.SweepSettings`, the dataclass a recipe's
``[sweep]`` table is checked against, so an option and its table key take the same values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..recipes.recipe import SWEEP_SECTION
from ..sweeps.table import GRID_TABLE, SweepSettings
from .options import WholeNumber, out_option, override_option


def settings_option(settings: type, section: str, field: dataclasses.Field) -> Callable:
    """The ``--option`` of a settings dataclass's field (:class:`SweepSettings`, ``[sweep]``): its type,
    bounds and help, and no default, so that an option not given leaves the recipe's table (or the
    field's default) in force."""
    hint = typing.get_type_hints(settings)[field.name]
    arms = [arm for arm in typing.get_args(hint) if arm is not type(None)] or [hint]
    if typing.get_origin(hint) is typing.Literal:
        kind: Any = click.Choice(typing.get_args(hint))
    elif arms[0] is int:
        kind = WholeNumber(min=field.metadata.get("min"), max=field.metadata.get("max"))
    else:
        kind = arms[0]
    default = f"default: {field.default}; " if field.default is not None else ""
    return click.option(
        f"--{field.name.replace('_', '-')}",
        field.name,
        type=kind,
        default=None,
        help=f"{field.metadata['help']} [{default}[{section}] key: {field.name}]",
    )


def settings_options(settings: type, section: str, tables: tuple[str, ...]) -> Callable[[Callable], Callable]:
    """An option per field of ``settings`` but its sub-tables (``tables``): the class's own fields first,
    then those it shares with other commands (:class:`ganlab.sweeps.table.LaunchSettings`)."""
    own = [f for f in dataclasses.fields(settings) if f.name in vars(settings).get("__annotations__", {})]
    fields = [f for f in own + [f for f in dataclasses.fields(settings) if f not in own] if f.name not in tables]

    def decorate(command: Callable) -> Callable:
        for field in reversed(fields):
            command = settings_option(settings, section, field)(command)
        return command

    return decorate


@click.command("sweep")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=[V1, V2, ...]",
    help="A recipe key and the values the sweep gives it, as a TOML array (repeatable); replaces "
    "that key's values in the recipe's [sweep.grid].",
)
@override_option
@out_option("the sweep's folder")
@settings_options(SweepSettings, SWEEP_SECTION, (GRID_TABLE,))
def sweep(recipe: Path, grid: tuple[str, ...], overrides: tuple[str, ...], out: Path, **options: Any) -> None:
    """Run RECIPE for every combination of the grid's values and every seed, each an ordinary run
    directory in OUT/NAME/ beside a sweep.json manifest; prints the sweep's folder as the last line.

    The grid and the options may also be a [sweep] table in RECIPE; options given here override it.
    The same command again skips the finished runs and resumes the interrupted and failed ones.
    """
    from ..loading.manager import load_plugins_or_warn
    from ..sweeps.sweep import SweepRequest, run_sweep

    given = {name: value for name, value in options.items() if value is not None}
    request = SweepRequest(recipe, grid, overrides, out, given)
    folder = run_sweep(request, load_plugins_or_warn(), click.echo)
    click.echo(str(folder))
