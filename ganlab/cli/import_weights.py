"""``ganlab import WEIGHTS --recipe RECIPE``: a generator trained elsewhere as a run directory; the work is
done in :mod:`ganlab.models.importing`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import out_option, override_option


@click.command("import")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option(
    "--recipe",
    type=click.Path(path_type=Path),
    default=None,
    help="The recipe whose generator the weights belong in (e.g. experiments/dcgan_celeba.toml for a "
    "pytorch/examples netG.pth); a safetensors file written by ganlab export carries its own.",
)
@override_option
@out_option("the run directory")
@click.option("--name", default=None, help="Run name prefix (default: experiment.name + '-imported').")
def import_weights(weights: Path, recipe: Path | None, overrides: tuple[str, ...], out: Path, name: str | None) -> None:
    """Make a run directory from the generator state dict WEIGHTS (a .pth/.pt read without unpickling, or
    .safetensors); prints how the names were matched and, last, the run directory."""
    from ..loading.manager import load_plugins_or_warn
    from ..models.importing import import_weights, recorded_recipe
    from ..recipes.recipe import load_recipe

    plugins = load_plugins_or_warn()
    if recipe is None:
        resolved = recorded_recipe(weights, plugins.registry, list(overrides))
    else:
        resolved = load_recipe(recipe, plugins.registry, list(overrides))
    run_dir = import_weights(weights, resolved, plugins, out, name)
    click.echo(f"parameter names: {run_dir.read_meta()['imported']['names']}")
    click.echo(str(run_dir.path))
