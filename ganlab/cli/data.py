"""``ganlab data info RECIPE`` and ``ganlab data prepare RECIPE``: look at, and build, a recipe's data.

Both work for any data set: ``info`` prints the data set's ``preview()`` when it offers one (what it
resolves to without decoding anything) and its ``describe()`` otherwise; ``prepare`` does whatever the
data set does on first use (building the preprocessed cache for ``celeba`` and ``image-folder``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..plugins.manager import load_plugins_or_warn
from .options import override_option


def _dataset(recipe: Path, overrides: tuple[str, ...]) -> Any:
    from ..training.assemble import build_dataset
    from ..recipes.recipe import load_recipe

    return build_dataset(load_recipe(recipe, load_plugins_or_warn().registry, list(overrides)), None)


def _echo(values: dict[str, Any]) -> None:
    width = max(map(len, values))
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
    dataset = _dataset(recipe, overrides)
    _echo(getattr(dataset, "preview", dataset.describe)())


@data.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@override_option
def prepare(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Decode RECIPE's images into the preprocessed cache now (a run would do it on first use)."""
    dataset = _dataset(recipe, overrides)
    click.echo(f"{len(dataset)} images ready", err=True)
    _echo(dataset.describe())
