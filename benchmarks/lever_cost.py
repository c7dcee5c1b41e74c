"""What each lever costs per training step, against the plain step it is added to.

Every arm is ganlab's own training step (built as ``ganlab run`` builds it) on the quickstart recipe
(32x32, batch 64, in-memory synthetic faces), with one lever added by ``--set``: an augmentation, a
regularizer (on the DCGAN discriminator without batch norm, ``wgan-critic`` with ``norm = "none"``, which
r1 and r2 require, so its own plain arm is the reference), schedules, or a logger (whose ``log_steps``
is called with each step's record, as the loop's flush calls it). Arms alternate within each round so
that drifts of the machine hit all alike; each arm's figure is the median step over all rounds, and its
ratio the median over rounds of (arm step / reference step) measured in the same round. A lever that acts
on some steps only (a lazy regularizer) is missing from a median: the mean step, and its ratio of means,
counts it.

    PYTHONPATH=. python benchmarks/lever_cost.py [--rounds 5] [--steps 20] [--device cpu]

Needs ganlab-augment, ganlab-regularizers, ganlab-tensorboard and ganlab-wgan installed.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.loop import Trainer

ROOT = Path(__file__).resolve().parent.parent
NO_BATCH_NORM = ['discriminator.name="wgan-critic"', 'discriminator.norm="none"']
ARMS: dict[str, tuple[str, list[str]]] = {
    # arm: (the arm it is measured against, its overrides)
    "plain": ("plain", []),
    "diffaugment": ("plain", ['augment={name="diffaugment"}']),
    "ada": ("plain", ['augment={name="ada"}']),
    "cosine schedules": (
        "plain",
        [
            'schedule.generator={name="cosine", warmup_steps=10}',
            'schedule.discriminator={name="cosine", warmup_steps=10}',
        ],
    ),
    "csv logger": ("plain", ['loggers[+]={name="csv"}']),
    "tensorboard logger": ("plain", ['loggers[+]={name="tensorboard"}']),
    "plain, D without batch norm": ("plain, D without batch norm", NO_BATCH_NORM),
    "r1 every 16 steps": ("plain, D without batch norm", [*NO_BATCH_NORM, 'regularizers[+]={name="r1"}']),
    "r1 every step": ("plain, D without batch norm", [*NO_BATCH_NORM, 'regularizers[+]={name="r1", interval=1}']),
    "r1 + r2 every step": (
        "plain, D without batch norm",
        [*NO_BATCH_NORM, 'regularizers[+]={name="r1", interval=1}', 'regularizers[+]={name="r2", interval=1}'],
    ),
}


def arm(plugins, overrides: list[str], args: argparse.Namespace, folder: Path, name: str):
    """(one step, release) of the quickstart's training step under ``overrides``."""
    recipe = load_recipe(
        ROOT / "experiments" / "quickstart.toml",
        plugins.registry,
        [
            f'experiment.device="{args.device}"',
            f"data.num_images={args.images}",
            'train.data_on_device="always"',
            "train.num_workers=0",
            "evaluators=[]",
            *overrides,
        ],
    )
    run = Trainer(build(recipe), RunDir.create(folder, name), plugins, progress=False)
    run.loggers.start(run)
    steps = itertools.count()
    batches = (batch for epoch in itertools.count() for batch in run.loader.epoch(epoch))
    sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)

    def one_step() -> float:
        step = next(steps)
        batch = next(batches)
        sync()
        start = time.perf_counter()
        stats = run.training_step([batch], step)
        if run.loggers.loggers:
            values = stats.cpu().tolist()
            run.loggers.log_steps(
                [
                    {
                        "step": step + 1,
                        "epoch": 1,
                        **dict(zip(run.logged_keys, values)),
                        "lr_g": 2e-4,
                        "lr_d": 2e-4,
                        "time": 0.0,
                    }
                ]
            )
        sync()
        return time.perf_counter() - start

    def release() -> None:
        run.loggers.finish("finished")
        run.run_dir.unlock()

    return one_step, release


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per arm and round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=4096, help="synthetic faces in the data set")
    args = parser.parse_args()
    plugins = load_plugins()
    times: dict[str, list[float]] = {name: [] for name in ARMS}
    ratios: dict[str, list[float]] = {name: [] for name in ARMS}
    with tempfile.TemporaryDirectory() as folder:
        steps = {
            name: arm(plugins, overrides, args, Path(folder), f"{i:02d}")
            for i, (name, (_, overrides)) in enumerate(ARMS.items())
        }
        for one_step, _ in steps.values():
            for _ in range(args.warmup):
                one_step()
        for _ in range(args.rounds):
            medians = {}
            for name, (one_step, _) in steps.items():
                measured = [one_step() for _ in range(args.steps)]
                times[name].extend(measured)
                medians[name] = statistics.median(measured)
            for name, (reference, _) in ARMS.items():
                ratios[name].append(medians[name] / medians[reference])
        for _, release in steps.values():
            release()
    print("| lever | step (ms) | against | ratio | mean step (ms) | mean ratio |\n|---|---:|---|---:|---:|---:|")
    for name, (reference, _) in ARMS.items():
        mean_ratio = statistics.mean(times[name]) / statistics.mean(times[reference])
        print(
            f"| {name} | {1000 * statistics.median(times[name]):.1f} | {reference} | "
            f"{statistics.median(ratios[name]):.2f}x | {1000 * statistics.mean(times[name]):.1f} | "
            f"{mean_ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()
