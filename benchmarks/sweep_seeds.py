"""The quickstart over two settings x 3 seeds: is the difference between the settings outside the seed spread?

Usage (from the repository root; writes into --out, by default a temporary folder):

    python benchmarks/sweep_seeds.py [--epochs 5] [--images 1024] [--seeds 3] \\
        [--grid 'loss.real_label=[0.9, 1.0]'] [--jobs 1 2] [--out /tmp/sweep-bench]

Runs ``ganlab sweep experiments/quickstart.toml`` once for each ``--jobs`` count with the same grid and
seeds (by default ``--jobs 1`` and ``--jobs 2``, each in a folder of its own), and prints the wall time of each,
then per setting the mean and standard deviation over the seeds of the final SWD (the quickstart's
``swd`` evaluator, scored at the end of every run), and the difference between the two settings' means set
against the seed spread: Welch's t, the difference over sqrt(s1^2/n1 + s2^2/n2), and the statement
``ganlab compare`` makes of the sweep's folder (``ganlab.compare``: bootstrap intervals of the difference).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ganlab

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "experiments" / "quickstart.toml"


def run_sweep(out: Path, name: str, args: argparse.Namespace, jobs: int) -> float:
    """Wall seconds of one ``ganlab sweep`` of the quickstart."""
    command = [
        sys.executable,
        "-m",
        "ganlab",
        "sweep",
        str(QUICKSTART),
        "--grid",
        args.grid,
        "--seeds",
        str(args.seeds),
        "--jobs",
        str(jobs),
        "--out",
        str(out),
        "--name",
        name,
        "--set",
        f"train.epochs={args.epochs}",
        "--set",
        f"data.num_images={args.images}",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - start


def final_swd(run: Path) -> float:
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in records if r["metric"] == "swd"][-1]["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", default="loss.real_label=[0.9, 1.0]", help="one --grid of two values")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="the --jobs counts timed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ganlab-sweep-bench-"))
    seconds = {jobs: run_sweep(out, f"jobs{jobs}", args, jobs) for jobs in args.jobs}
    scored = out / f"jobs{args.jobs[0]}"
    manifest = json.loads((scored / "sweep.json").read_text())
    by_setting: dict[str, list[float]] = {}
    for run in manifest["runs"]:
        setting = " ".join(f"{k}={v}" for k, v in run["settings"].items())
        by_setting.setdefault(setting, []).append(final_swd(scored / run["name"]))
    walls = ", ".join(f"--jobs {jobs} {wall:.1f} s" for jobs, wall in seconds.items())
    speedup = f" ({seconds[1] / seconds[2]:.2f}x)" if {1, 2} <= seconds.keys() else ""
    print(f"wall time, {len(manifest['runs'])} runs: {walls}{speedup}")
    stats = {}
    for setting, values in by_setting.items():
        mean, std = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        stats[setting] = (mean, std, len(values))
        print(
            f"final SWD, {setting}: mean {mean:.2f}, std {std:.2f} over {len(values)} seeds "
            f"({', '.join(f'{v:.2f}' for v in values)})"
        )
    if len(stats) == 2:
        (a, (ma, sa, na)), (b, (mb, sb, nb)) = stats.items()
        spread = (sa**2 / na + sb**2 / nb) ** 0.5
        t = (ma - mb) / spread if spread else float("inf")
        print(
            f"difference ({a}) - ({b}): {ma - mb:.2f}; seed spread of that difference {spread:.2f}; "
            f"Welch t {t:.2f} ({'outside' if abs(t) > 2 else 'inside'} two spreads)"
        )
    comparison = ganlab.compare([scored])
    print("ganlab compare's statement (95% bootstrap interval of the difference of means):")
    print(comparison.statement)
    print(f"runs in {out}")


if __name__ == "__main__":
    main()
