"""Which batch-norm statistics should generated images use? SWD of each choice on trained runs.

For every run directory given, the generator of its newest valid checkpoint (EMA weights when the run kept
them) draws the same seeded latents four ways, and each set is scored with ganlab's SWD (the ``swd``
evaluator's protocol: as many real training images, drawn with the same seed) against the run's training data:

- ``batch-256``: training mode, batch statistics of 256-image requests (how metrics sampled before);
- ``batch-1``: training mode, each image alone (``ganlab generate --num 1`` before);
- ``running``: evaluation mode with the running statistics saved in the checkpoint;
- ``standing``: evaluation mode with standing statistics (:mod:`ganlab.training.sampling`, the rule ganlab uses).

Lower SWD is better; ``pixel std`` is the mean per-image standard deviation of the pixels (a washed-out,
degenerate face has a low one). Prints a Markdown table, the mean and spread over ``--seeds``::

    PYTHONPATH=. python benchmarks/sampling_stats.py RUN_DIR [RUN_DIR ...] --num-samples 1024 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ganlab.contracts.engine import ImageDataset
from ganlab.loading.manager import load_plugins
from ganlab.metrics.reference import sample_images
from ganlab.metrics.swd import swd
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.generate import load_generator
from ganlab.training.sampling import preserved_buffers, preserved_modes, sample, seeded_rng, to_uint8

Draw = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@torch.no_grad()
def in_mode(generator: nn.Module, z: torch.Tensor, training: bool, request: int) -> torch.Tensor:
    """Images for ``z`` drawn ``request`` at a time in training or evaluation mode, buffers untouched."""
    with preserved_buffers(generator), preserved_modes(generator):
        generator.train(training)
        return torch.cat([to_uint8(generator(chunk)) for chunk in z.split(request)])


WAYS: dict[str, Draw] = {
    "batch-256": lambda g, z: in_mode(g, z, training=True, request=256),
    "batch-1": lambda g, z: in_mode(g, z, training=True, request=1),
    "running": lambda g, z: in_mode(g, z, training=False, request=256),
    "standing": lambda g, z: sample(g, z),
}


def training_data(run_dir: RunDir, plugins) -> ImageDataset:
    recipe = load_recipe(run_dir.recipe_path, plugins.registry)
    return build(dataclasses.replace(recipe, evaluators=()), torch.device("cpu")).dataset


def pixel_std(images: torch.Tensor) -> float:
    return images.float().flatten(1).std(dim=1).mean().item()


def measure(run_dir: RunDir, plugins, num: int, seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    generator, _, _ = load_generator(run_dir, plugins, torch.device("cpu"))
    data = training_data(run_dir, plugins)
    results: dict[str, dict[str, list[float]]] = {way: {"swd": [], "std": []} for way in WAYS}
    for seed in seeds:
        real = sample_images(data, num, seed)
        z = torch.randn(len(real), generator.latent_dim, generator=seeded_rng(seed))
        for way, draw in WAYS.items():
            fake = draw(generator, z)
            levels = swd(real, fake, seed=seed)
            results[way]["swd"].append(sum(levels.values()) / len(levels))
            results[way]["std"].append(pixel_std(fake))
    results["real images"] = {"swd": [], "std": [pixel_std(sample_images(data, num, seeds[0]))]}
    return results


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories with a valid checkpoint")
    parser.add_argument("--num-samples", type=int, default=1024, help="generated and real images per score")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    plugins = load_plugins()
    print("| run | statistics | SWD x1e3 (mean of levels) | pixel std |")
    print("| --- | --- | --- | --- |")
    with torch.no_grad():  # not torch.set_grad_enabled(False): the tests run this in their own process
        for path in args.runs:
            for way, numbers in measure(RunDir.open(path), plugins, args.num_samples, args.seeds).items():
                print(f"| {path.name} | {way} | {spread(numbers['swd'])} | {spread(numbers['std'])} |")


if __name__ == "__main__":
    main()
