"""Time one FID evaluation through the ``fid`` evaluator: first (reference features computed) vs cached.

The evaluator's real path runs end to end: a DCGAN generator draws the images, torch-fidelity's InceptionV3
featurises them, torch-fidelity's formula gives the FID. A "first" evaluation has a cold reference cache;
a "cached" one is a fresh evaluator (as in a later run) that finds the reference features on disk. It scores
with the network ganlab resolves (``ganlab metrics``: the shipped FID network on a fresh install); pass
--weights to time another file.

Inception's cost grows with the number of images and the FID formula's does not (one 2048x2048
eigendecomposition), so the output gives both parts and extrapolates to --target images:

    python benchmarks/fid_eval.py --num-samples 32 --repeats 3 [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganlab.common import tomlwrite
from ganlab.contracts.engine import BuildContext
from ganlab.evaluators import fidelity as fidelity_evaluators
from ganlab.loading.manager import load_plugins
from ganlab.metrics import inception
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.loop import Trainer


def recipe(num: int, device: str, batch_size: int) -> dict:
    return {
        "experiment": {"name": "fid-bench", "seed": 0, "device": device},
        "data": {"name": "synthetic-faces", "image_size": 64, "num_images": max(num, 128)},
        "generator": {"name": "dcgan", "latent_dim": 100, "features": 64},
        "discriminator": {"name": "dcgan", "features": 64},
        "train": {"epochs": 1, "batch_size": 64, "num_workers": 0},
        "evaluators": [{"name": "fid", "num_samples": num, "num_reference": num, "batch_size": batch_size}],
    }


@torch.no_grad()
def new_weights(run: Trainer) -> None:
    """Change the generator's weights a little, as training between two evaluations does: generated
    features are memoised by the weights that drew them, and every evaluation here must featurise its own."""
    next(run.sampler.parameters()).add_(1e-3)


class Timed:
    """Wall time spent inside a function, summed over calls."""

    def __init__(self, owner, name):
        self.owner, self.name, self.total = owner, name, 0.0
        self.original = getattr(owner, name)

    def __enter__(self):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=32, help="generated and reference images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--target", type=int, default=10000, help="image count to extrapolate to")
    parser.add_argument("--weights", type=Path, help="an Inception state dict (default: the one ganlab resolves)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.weights:
            os.environ["GANLAB_INCEPTION_WEIGHTS"] = str(args.weights)
        (tmp / "recipe.toml").write_text(tomlwrite.dumps(recipe(args.num_samples, args.device, args.batch_size)))
        plugins = load_plugins(entry_points=False)
        loaded = load_recipe(tmp / "recipe.toml", plugins.registry)
        run = Trainer(build(loaded), RunDir.create(tmp / "runs", "bench"), plugins, progress=False)
        component = loaded.evaluators[0]
        results = {"first": [], "cached": [], "inception_per_image": [], "fid_formula": []}
        for repeat in range(args.repeats):
            cache = tmp / f"cache-{repeat}"
            for kind in ("first", "cached"):
                os.environ["GANLAB_CACHE_DIR"] = str(cache)
                evaluator = component.entry.factory(
                    component.config, BuildContext(seed=0, device=run.device, image_size=64, channels=3)
                )
                new_weights(run)
                with (
                    Timed(inception.InceptionFeatures, "of_batches") as net,
                    Timed(fidelity_evaluators, "frechet_distance") as formula,
                ):
                    start = time.perf_counter()
                    evaluator.evaluate(run)
                    if args.device == "cuda":
                        torch.cuda.synchronize()
                    results[kind].append(time.perf_counter() - start)
                images = args.num_samples * (2 if kind == "first" else 1)
                results["inception_per_image"].append(net.total / images)
                results["fid_formula"].append(formula.total)
                print(
                    f"repeat {repeat} {kind}: {results[kind][-1]:.2f} s (Inception {net.total:.2f} s for "
                    f"{images} images, FID formula {formula.total:.2f} s)",
                    flush=True,
                )

    med = {k: statistics.median(v) for k, v in results.items()}
    per_image, formula = med["inception_per_image"], med["fid_formula"]
    summary = {
        "device": args.device,
        "num_samples": args.num_samples,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "median_first_s": med["first"],
        "median_cached_s": med["cached"],
        "cached_over_first": med["cached"] / med["first"],
        "inception_s_per_image": per_image,
        "fid_formula_s": formula,
        f"extrapolated_first_{args.target}_s": 2 * args.target * per_image + formula,
        f"extrapolated_cached_{args.target}_s": args.target * per_image + formula,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({**summary, "raw": results}, indent=2))


if __name__ == "__main__":
    main()
