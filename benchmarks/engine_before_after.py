"""The fp32 DCGAN-64 training step of two versions of ganlab, each against pytorch/examples' dcgan loop.

A refactor of the engine must keep its speed. This runs, in alternating subprocesses, each source tree's
own ``benchmarks/scale.py`` variants (``ganlab_variant`` with no overrides: fp32, and ``reference_variant``:
pytorch/examples dcgan/main.py's loop on the same networks and data), so each tree is timed with its own
engine and each subprocess times the reference beside it. Per tree it prints the median step of both and
the median of the per-round ratios (reference step / ganlab step: above 1 is faster than the reference).

    PYTHONPATH=. python benchmarks/engine_before_after.py OLD_TREE NEW_TREE [--rounds 3] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ONE_ROUND = """
import argparse, json, statistics, sys, tempfile
from pathlib import Path
import torch
sys.path.insert(0, str(Path(sys.argv[1]) / "benchmarks"))
import scale
args = argparse.Namespace(device="cpu", images=int(sys.argv[3]))
plugins = scale.load_plugins([("benchmark-data", scale.BenchmarkData())], entry_points=False)
steps = int(sys.argv[2])
with tempfile.TemporaryDirectory() as folder:
    variants = {"reference": scale.reference_variant(args),
                "ganlab": scale.ganlab_variant(plugins, [], args, Path(folder), "fp32")}
    times = {}
    for name, (step, batches, _) in variants.items():
        scale.time_steps(step, (next(batches) for _ in range(2)), torch.device("cpu"))
    for name, (step, batches, release) in variants.items():
        times[name] = statistics.median(
            scale.time_steps(step, (next(batches) for _ in range(steps)), torch.device("cpu")))
        release()
print(json.dumps(times))
"""


def one_round(tree: Path, steps: int, images: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", ONE_ROUND, str(tree), str(steps), str(images)], env=env,
                          cwd=tree, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="the source trees to compare: before, after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--images", type=int, default=2048)
    args = parser.parse_args()
    results: dict[Path, list[dict[str, float]]] = {tree: [] for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            results[tree].append(one_round(tree.resolve(), args.steps, args.images))
    print(f"DCGAN-64, batch 128, fp32, CPU ({os.cpu_count()} cores); {args.rounds} alternating rounds of "
          f"{args.steps} steps after 2 warm-up steps per variant")
    print(f"{'tree':40} {'reference ms':>13} {'ganlab ms':>10} {'ganlab vs reference':>20}")
    for tree, rounds in results.items():
        reference = statistics.median(r["reference"] for r in rounds)
        ours = statistics.median(r["ganlab"] for r in rounds)
        ratio = statistics.median(r["reference"] / r["ganlab"] for r in rounds)
        print(f"{str(tree):40} {reference * 1e3:13.1f} {ours * 1e3:10.1f} {ratio:19.2f}x")


if __name__ == "__main__":
    main()
