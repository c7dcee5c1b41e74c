"""New images from a trained run's saved weights: a grid, one file per image, or a latent interpolation.

Everything needed is in the checkpoint (the resolved recipe, the image shape, the weights), so a run
directory can make images on a machine that has neither the training data nor the run's other files.
Images are drawn the way the run drew its own samples (:func:`ganlab.sampling.generate_images`), so the
same seed gives the same faces here as :meth:`ganlab.engine.Run.generate` gave during training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn

from .errors import CheckpointError, RunError
from .grids import grid_png
from .plugins import Plugins
from .protocols import BuildContext
from .recipe import resolve
from .runs import RunDir
from .sampling import generate_images, sample, seeded_latents, seeded_rng


def load_generator(run_dir: RunDir, plugins: Plugins, device: torch.device, checkpoint: str | None = None,
                   warn: Callable[[str], None] = lambda message: None) -> nn.Module:
    """The trained generator of ``run_dir``, from ``checkpoint`` (a name in checkpoints/) or the newest
    valid one; the single place a checkpoint becomes a network for sampling. A run trained with
    ``train.ema`` samples from its averaged weights, as its own grids and metrics did."""
    store = run_dir.checkpoint_store
    if checkpoint is None:
        found = store.newest_valid(warn)
        if found is None:
            raise CheckpointError(f"run {str(run_dir.path)!r} has no valid checkpoint yet")
        path, state = store.directory / found[0].file, found[1]
    else:
        path, record = store.named(checkpoint, warn)
        state = store.read(path, record)
    return generator_from_state(state, path, plugins, device)


def generator_from_state(state: dict, path: Path, plugins: Plugins, device: torch.device) -> nn.Module:
    """The generator a loaded checkpoint (read from ``path``) describes, with its trained weights."""
    not_ours = CheckpointError(f"checkpoint {str(path)!r} is not a ganlab training checkpoint "
                               "(it lacks the recipe, image shape or generator weights)")
    if not isinstance(state, dict):
        raise not_ours
    try:
        recipe_doc, (channels, size, _) = state["recipe"], state["image_shape"]
        weights = state.get("ema", state["generator"])     # EMA weights when the run kept them
    except (KeyError, TypeError, ValueError):
        raise not_ours from None
    # Sampling needs no evaluation hook, so a run whose metric plugin is gone can still make images.
    without_hooks = {key: value for key, value in recipe_doc.items() if key != "hooks"}
    recipe = resolve(without_hooks, plugins.registry, f"{path} (its recipe)")
    component = recipe.component("generator")
    context = BuildContext(seed=recipe.experiment.seed, device=device, image_size=size, channels=channels)
    generator = component.entry.factory(component.config, context)
    try:
        generator.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {str(path)!r}: its generator weights do not fit the "
                              f"{component.name!r} generator installed here ({first})") from None
    return generator.to(device)


def images(generator: nn.Module, num: int, seed: int, device: torch.device) -> torch.Tensor:
    """``num`` images as uint8 (N, C, H, W) from ``seed``."""
    return generate_images(generator, num, seeded_rng(seed), device)


def interpolation(generator: nn.Module, seed_a: int, seed_b: int, steps: int,
                  device: torch.device) -> torch.Tensor:
    """``steps`` images along the latent path from ``seed_a``'s first image to ``seed_b``'s."""
    def first_latent(seed: int) -> torch.Tensor:
        return seeded_latents(seeded_rng(seed), 1, generator.latent_dim)[0].to(device)
    return sample(generator, slerp(first_latent(seed_a), first_latent(seed_b), steps))


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the great circle from ``a`` to ``b``: Gaussian latents live near a sphere,
    and a straight line between two of them passes through unlikely, washed-out middles."""
    t = torch.linspace(0, 1, steps, device=a.device)[:, None]
    omega = torch.arccos(torch.clamp((a / a.norm()) @ (b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def write_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """uint8 (N, C, H, W) as one PNG grid (a square one unless ``nrow`` is given)."""
    _prepare(path.parent)
    path.write_bytes(grid_png(images, nrow))
    return path


def write_each(images: torch.Tensor, folder: Path, stem: str = "image") -> list[Path]:
    """uint8 (N, C, H, W) as one PNG per image, ``folder/stem_0000.png`` upwards."""
    _prepare(folder)
    paths = []
    for i, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        path = folder / f"{stem}_{i:04d}.png"
        Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
        paths.append(path)
    return paths


def _prepare(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}") from None
