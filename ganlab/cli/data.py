"""``ganlab data info RECIPE`` and ``ganlab data prepare RECIPE``: look at, and build, a recipe's data.

Both work for any data set: ``info`` prints the data set's ``preview()`` when it offers one (what it
resolves to without decoding anything) and its ``describe()`` otherwise; ``prepare`` does whatever the
data set does on first use (building the preprocessed cache for ``celeba`` and ``image-folder``). What
the data set returns is checked as ``validate`` checks it (:mod:`ganlab.training.returns`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..loading.manager import load_plugins_or_warn
from .options import override_option

if TYPE_CHECKING:
    from ..recipes.recipe import Component


def _dataset(recipe: Path, overrides: tuple[str, ...]) -> tuple[Any, Component, str]:
    """The recipe's data set, built, with its recipe component and the recipe's source."""
    from ..recipes.recipe import load_recipe
    from ..training.assemble import build_dataset

    loaded = load_recipe(recipe, load_plugins_or_warn().registry, list(overrides))
    return build_dataset(loaded, None), loaded.component("data"), loaded.source


def _echo(values: dict[str, Any]) -> None:
    width = max(map(len, values), default=0)
    for key, value in values.items():
        click.echo(f"{key:<{width}}  {value}")


@click.group()
def data() -> None:
    """Inspect and prepare a recipe's training data."""


@data.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@override_option
def info(recipe: Path, overrides: tuple[str, ...]) -> None:
    """What RECIPE's data section resolves to: source, count, fingerprint, cache path and size."""
    from ..training.returns import check_description

    dataset, component, source = _dataset(recipe, overrides)
    method = "preview" if callable(getattr(dataset, "preview", None)) else "describe"
    _echo(check_description(component, dataset, source, method))


@data.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@override_option
def prepare(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Decode RECIPE's images into the preprocessed cache now (a run would do it on first use)."""
    from ..training.returns import check_dataset

    dataset, component, source = _dataset(recipe, overrides)
    check_dataset(component, dataset, source)
    click.echo(f"{len(dataset)} images ready", err=True)
    _echo(dataset.describe())
