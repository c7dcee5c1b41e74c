"""What the evaluators and the report add to a run: seconds per epoch of each evaluator, and of the report.

Trains RECIPE (default: the quickstart) for a few epochs with every evaluator's callbacks timed, then builds
the report, and repeats; prints the medians as JSON. Wall time and CPU time of this process are both
given, since on a shared machine wall time mostly measures the neighbours. Runs on a GPU when the
recipe's device allows it (device = "auto").

    python benchmarks/report_overhead.py [--recipe experiments/quickstart.toml] [--epochs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.report.build import build_report
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.lifecycle import finish, start_meta
from ganlab.training.loop import Trainer

CALLBACKS = ("on_run_start", "on_step_end", "on_epoch_end", "on_run_end")


class Clock:
    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, method):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - wall
                self.cpu[name] += time.process_time() - cpu

        return timed


def one_round(recipe_path: Path, epochs: int, out: Path) -> dict[str, float]:
    plugins = load_plugins()
    recipe = load_recipe(recipe_path, plugins.registry, [f"train.epochs={epochs}"])
    built = build(recipe)
    clock = Clock()
    for component, evaluator in built.evaluators:
        for callback in CALLBACKS:
            setattr(evaluator, callback, clock.wrap(component.name, getattr(evaluator, callback)))
    run_dir = RunDir.create(out, "bench")
    run = Trainer(built, run_dir, plugins, progress=False)
    run_dir.recipe_path.write_text(recipe.to_toml(), "utf-8")
    run_dir.write_meta(start_meta(run, plugins))
    wall, cpu = time.perf_counter(), time.process_time()
    run.train()
    result = {
        "train_wall_s_per_epoch": (time.perf_counter() - wall) / epochs,
        "train_cpu_s_per_epoch": (time.process_time() - cpu) / epochs,
    }
    finish(run, "finished", None)
    for name in clock.wall:
        result[f"{name}_wall_s_per_epoch"] = clock.wall[name] / epochs
        result[f"{name}_cpu_s_per_epoch"] = clock.cpu[name] / epochs
    wall, cpu = time.perf_counter(), time.process_time()
    build_report(run_dir, plugins.registry)
    result["report_wall_s"] = time.perf_counter() - wall
    result["report_cpu_s"] = time.process_time() - cpu
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=Path("experiments/quickstart.toml"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        rounds = [one_round(args.recipe, args.epochs, Path(out)) for _ in range(args.rounds)]
    medians = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}
    print(
        json.dumps(
            {"recipe": str(args.recipe), "epochs": args.epochs, "rounds": args.rounds, "medians": medians}, indent=2
        )
    )


if __name__ == "__main__":
    main()
