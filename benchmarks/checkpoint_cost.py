"""What a checkpoint costs on the default recipe: seconds per checkpoint and its share of an epoch.

The default recipe is experiments/dcgan_celeba.toml (DCGAN 64x64, 64 features, batch 128). CelebA is not
needed: the same networks train on synthetic faces of the same size, which costs the same per step. An
epoch of CelebA is 202,599 // 128 = 1,582 steps. Usage:

    PYTHONPATH=. python benchmarks/checkpoint_cost.py [--device auto|cpu|cuda] [--steps 5] [--saves 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganlab.data.loader import Batch
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.loop import Trainer

CELEBA_STEPS_PER_EPOCH = 202_599 // 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (after one warm-up)")
    parser.add_argument("--saves", type=int, default=5, help="timed checkpoint writes")
    args = parser.parse_args()
    plugins = load_plugins(entry_points=False)
    recipe = load_recipe(
        Path(__file__).parent.parent / "experiments" / "dcgan_celeba.toml",
        plugins.registry,
        [
            'data={name="synthetic-faces", image_size=64, num_images=256}',
            f'experiment.device="{args.device}"',
            "train.num_workers=0",
            "evaluators=[]",
        ],
    )  # the networks and optimizers are what a checkpoint holds
    with tempfile.TemporaryDirectory() as folder:
        run = Trainer(build(recipe), RunDir.create(Path(folder), "bench"), plugins, progress=False)
        step_times = []
        for i in range(args.steps + 1):
            batch = run.real_images(recipe.train.batch_size, seed=i)
            start = time.perf_counter()
            run.training_step([Batch(batch, None)], i).cpu()
            step_times.append(time.perf_counter() - start)
        save_times = []
        for i in range(args.saves):
            start = time.perf_counter()
            path = run.save_checkpoint(f"step_{i:08d}.pt")
            save_times.append(time.perf_counter() - start)
        size = path.stat().st_size
        run.run_dir.unlock()
    step, save = statistics.median(step_times[1:]), statistics.median(save_times)
    epoch = step * CELEBA_STEPS_PER_EPOCH
    print(
        f"device: {run.device} ({torch.cuda.get_device_name() if run.device.type == 'cuda' else 'cpu'}), "
        f"torch threads: {torch.get_num_threads()}"
    )
    print(
        f"checkpoint: {size / 2**20:.1f} MiB, median {save:.3f} s over {args.saves} writes "
        f"(all: {', '.join(f'{t:.3f}' for t in save_times)})"
    )
    print(f"training step (batch 128): median {step:.3f} s over {args.steps} steps")
    print(
        f"CelebA epoch ({CELEBA_STEPS_PER_EPOCH} steps): {epoch / 60:.1f} min; one checkpoint per epoch costs "
        f"{100 * save / epoch:.4f}% of it; a checkpoint every 100 steps costs {100 * save / (100 * step):.3f}%"
    )


if __name__ == "__main__":
    main()
