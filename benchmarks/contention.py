"""The quickstart's training step on a busy machine: beside 0 to 3 CPU-bound processes, with each way of
choosing torch's thread count.

Each measurement is a fresh process (OpenMP reads its settings when torch loads) that builds the
quickstart's training step as ``ganlab run`` does and times steps, while ``--busy`` other processes spin
on the cores (pure Python loops: one core each). The arms:

- ``threads=cores``: torch's default, one thread per core, as ganlab ran before ``train.threads``;
- ``threads=cores, passive``: the same with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once);
- ``threads=1``;
- ``auto``: ganlab's default (``train.threads = 0``): one thread per core left free at the start.

Each figure is the median step over ``--rounds`` rounds (arms alternate within a round), beside the
slowest round's median (oversubscribed OpenMP threads are slow in bursts); "fair" is the
step the run would take with its fair share of the cores: alone with one thread, times
``max(1, (busy + 1) / cores)`` (one process among ``busy + 1`` on ``cores`` cores).

    PYTHONPATH=. python benchmarks/contention.py [--rounds 3] [--busy 0 1 2 3]

Run it alone: anything else on the machine is one more busy process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARMS = {
    "threads=cores": ({}, "cores"),
    "threads=cores, passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, "cores"),
    "threads=1": ({}, "1"),
    "auto": ({}, "auto"),
}
SPIN = "while True: pass"


def measure(threads: str, steps: int, budget_s: float) -> dict:
    """In this process: the median of up to ``steps`` quickstart steps (after 3 warm-up steps), stopping
    early once ``budget_s`` seconds have gone by."""
    import torch

    from ganlab.loading.manager import load_plugins
    from ganlab.machine.threads import choose_threads, usable_cores
    from ganlab.recipes.recipe import load_recipe
    from ganlab.rundir.rundir import RunDir
    from ganlab.training.assemble import build
    from ganlab.training.loop import Trainer

    count = {"cores": usable_cores(), "1": 1}.get(threads) or choose_threads(0).threads
    torch.set_num_threads(count)
    plugins = load_plugins()
    recipe = load_recipe(
        ROOT / "experiments" / "quickstart.toml",
        plugins.registry,
        [
            'experiment.device="cpu"',
            "data.num_images=1024",
            'train.data_on_device="always"',
            "train.num_workers=0",
            "evaluators=[]",
        ],
    )
    with tempfile.TemporaryDirectory() as folder:
        run = Trainer(build(recipe), RunDir.create(Path(folder), "contention"), plugins, progress=False)
        batches = (batch for epoch in itertools.count() for batch in run.loader.epoch(epoch))
        times, started = [], time.perf_counter()
        for step in range(steps + 3):
            batch = next(batches)
            start = time.perf_counter()
            run.training_step([batch], step)
            if step >= 3:
                times.append(time.perf_counter() - start)
                if time.perf_counter() - started > budget_s and len(times) >= 3:
                    break
    return {"threads": count, "median_s": statistics.median(times), "steps": len(times)}


def measured(arm: str, args: argparse.Namespace) -> dict:
    environment, threads = ARMS[arm]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(environment, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, "--child", threads, "--steps", str(args.steps), "--budget", str(args.budget)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--budget", type=float, default=12.0, help="seconds of steps per measurement at most")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.budget)))
        return
    from ganlab.machine.threads import usable_cores

    cores = usable_cores()
    results: dict[tuple[int, str], list[dict]] = {}
    for busy in args.busy:
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
        try:
            time.sleep(1.0)
            for _ in range(args.rounds):
                for arm in args.arms:
                    results.setdefault((busy, arm), []).append(measured(arm, args))
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        time.sleep(1.0)
    alone = (
        statistics.median(r["median_s"] for r in results.get((0, "threads=1"), []))
        if (0, "threads=1") in results
        else None
    )
    print(f"cores: {cores}; median step of the quickstart (32x32, batch 64) in ms, over {args.rounds} rounds")
    print(f"{'busy':>4}  {'arm':<24} {'threads':>7} {'step ms':>9} {'vs fair':>8} {'slowest round ms':>17}")
    for (busy, arm), rows in results.items():
        step = statistics.median(r["median_s"] for r in rows)
        fair = alone * max(1.0, (busy + 1) / cores) if alone else None
        threads = "/".join(sorted({str(r["threads"]) for r in rows}))
        ratio = f"{step / fair:7.2f}x" if fair else "       -"
        print(
            f"{busy:>4}  {arm:<24} {threads:>7} {step * 1000:9.1f} {ratio} "
            f"{max(r['median_s'] for r in rows) * 1000:17.1f}"
        )


if __name__ == "__main__":
    main()
