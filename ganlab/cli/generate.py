"""``ganlab generate``: new images from a trained run; the work is done in :mod:`ganlab.training.generate`."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ..common.config import MAX_SEED
from ..models.animation import ANIMATION_FORMATS
from .options import Truncations, WholeNumber

SEED = WholeNumber(0, MAX_SEED)
"""The seeds a recipe may give, so that any seed a run names can be asked for here too."""


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--checkpoint",
    default=None,
    metavar="K",
    help="Checkpoint file name in checkpoints/, or an epoch number (default: the newest valid).",
)
@click.option("--num", type=WholeNumber(min=1), default=64, show_default=True, help="Images to make.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the latent vectors.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write one PNG grid here.")
@click.option(
    "--out-dir", type=click.Path(path_type=Path), default=None, help="Write one PNG per image into this folder instead."
)
@click.option(
    "--interpolate", is_flag=True, help="Make a strip of --num images along the latent path from --seed to --to-seed."
)
@click.option(
    "--to-seed",
    type=SEED,
    default=None,
    help="End of the interpolation (default: --seed + 1, or 0 after the largest seed).",
)
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    metavar="ATTR=VALUE,...",
    help="A conditional run's labels, e.g. Smiling=1,Eyeglasses=0; repeat for one row (one strip, "
    "one set of files) per condition, the same latents in each; attributes left out are "
    "drawn from the training data's label distribution with --seed.",
)
@click.option(
    "--truncation",
    type=Truncations(),
    default=None,
    metavar="PSI",
    help="Truncation trick: every latent entry with |z_i| > PSI is resampled until inside (e.g. 0.7; "
    "smaller is more typical and less varied). Recorded in the files written.",
)
@click.option(
    "--walk",
    type=WholeNumber(min=2),
    default=None,
    metavar="N",
    help="Write an animation (-o FILE.gif or .mp4) looping smoothly through the first images of N seeds from "
    "--seed on, along great circles (slerp); one row per --condition, held fixed; --num is not used.",
)
@click.option(
    "--frames",
    type=WholeNumber(min=1, max=10000),
    default=24,
    show_default=True,
    help="Frames per segment of a --walk.",
)
@click.option(
    "--fps", type=WholeNumber(min=1, max=100), default=24, show_default=True, help="Frames a second of a --walk."
)
@click.option(
    "--format",
    "animation",
    type=click.Choice(ANIMATION_FORMATS),
    default=None,
    help="A --walk's format (default: from -o's ending, .gif or .mp4). mp4 needs pip install 'ganlab[video]'.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
def generate(
    run_dir: Path,
    checkpoint: str | None,
    num: int,
    seed: int,
    output: Path | None,
    out_dir: Path | None,
    interpolate: bool,
    to_seed: int | None,
    conditions: tuple[str, ...],
    truncation: float | None,
    walk: int | None,
    frames: int,
    fps: int,
    animation: str | None,
    device: str,
) -> None:
    """Make new images with the generator saved in RUN_DIR; prints what it wrote."""
    from ..common.errors import ConfigError, GanlabError, warn
    from ..loading.manager import load_plugins_or_warn
    from ..machine.devices import resolve_device
    from ..models.animation import frames as animation_frames
    from ..models.animation import video_writer, write_animation
    from ..rundir.rundir import RunDir
    from ..training import generate as gen

    if (output is None) == (out_dir is None):
        raise click.UsageError("give exactly one of -o FILE.png (a grid) and --out-dir FOLDER (one PNG each)")
    if walk is not None and (output is None or interpolate):
        raise click.UsageError("--walk writes one animation: give -o FILE.gif (or .mp4), without --interpolate")
    if animation is not None and walk is None:
        raise click.UsageError("--format is the format of a --walk's animation; give --walk N")
    if walk is not None:
        animation = animation_format(output, animation)
    try:
        torch_device = resolve_device(device)
    except ConfigError as e:
        raise GanlabError(f"--device: {e.message}") from None
    run = RunDir.open(run_dir)
    if output is not None:  # checked before anything is loaded or drawn
        gen.check_grid_path(output)
    else:
        gen.check_image_folder(out_dir)
    if animation == "mp4":  # said before anything is loaded
        video_writer()
    generator, shape, labels = gen.load_generator(run, load_plugins_or_warn(), torch_device, checkpoint, warn)
    rows = gen.condition_rows(run, labels, conditions)
    text = gen.made_with(run, checkpoint, seed, truncation)
    if walk is not None:
        gen.refuse_what_cannot_fit(
            walk * frames * len(rows),
            shape,
            True,
            grid=True,
            inputs=gen.input_bytes(generator, labels),
            asked=f"--walk {walk} --frames {frames}",
        )
        loops = [gen.walk(generator, seed, walk, frames, torch_device, labels, fixed, truncation) for fixed in rows]
        made = write_animation(animation_frames(loops), output, animation, fps, {**text, "ganlab:walk": str(walk)})
        click.echo(str(made))
        return
    if interpolate or output is not None:
        gen.refuse_what_cannot_fit(
            num * len(rows), shape, interpolate, grid=output is not None, inputs=gen.input_bytes(generator, labels)
        )
    if out_dir is not None:
        gen.refuse_what_the_disk_cannot_hold(out_dir, num * len(rows))
    end = (seed + 1) % (MAX_SEED + 1) if to_seed is None else to_seed
    if interpolate:
        batches = [
            gen.interpolation(generator, seed, end, num, torch_device, labels, fixed, truncation) for fixed in rows
        ]
    elif output is not None:
        batches = [gen.images(generator, num, seed, torch_device, labels, fixed, truncation) for fixed in rows]
    else:
        batches = (
            b
            for fixed in rows
            for b in gen.image_batches(generator, num, seed, torch_device, labels, fixed, truncation)
        )
    if output is not None:
        grid = torch.cat(batches)
        one_row = interpolate or len(rows) > 1
        click.echo(str(gen.write_grid(grid, output, nrow=num if one_row else None, text=text)))
    else:
        click.echo(f"{gen.write_each(batches, out_dir, text=text)} images in {out_dir}")


def animation_format(output: Path, given: str | None) -> str:
    """The format of a walk written to ``output``: ``given`` (``--format``), or what ``output`` ends with.
    An ending that is not the format's is refused: a GIF named ``walk.png`` opens in no viewer as a PNG."""
    ending = output.suffix.lower().lstrip(".")
    animation = given or ending
    if animation not in ANIMATION_FORMATS:
        raise click.UsageError(f"-o {str(output)!r}: a --walk writes an animation; end -o with .gif or .mp4")
    if ending != animation:
        raise click.UsageError(f"-o {str(output)!r} does not end with .{animation}, the --format of the walk")
    return animation
