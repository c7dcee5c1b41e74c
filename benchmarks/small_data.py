"""Small-data quality: DCGAN on a few thousand real faces without augmentation, with ``diffaugment`` and
with ``ada`` (the ganlab-augment package), several seeds each; and what each augmentation costs per step.

The faces are the first ``--faces`` images of LFW (``../shared/data/lfw-deepfunneled.zip``), copied into a
folder read by the ``image-folder`` data set at 32x32. Every run trains ``--steps`` generator updates and
is then scored by the ``swd`` evaluator (sliced Wasserstein distance to the training images, lower is better)
and the ``diversity`` evaluator (mean MS-SSIM of generated pairs beside real pairs: generated pairs far more
alike than real ones mean mode collapse). Each run goes through the ``ganlab run`` command, as a user runs
it. The cost per step is the median time between consecutive steps in ``metrics.jsonl`` (after the first
``--warmup`` steps), and its ratio to the plain arm's. Prints a Markdown table of mean and standard
deviation over the seeds::

    PYTHONPATH=. python benchmarks/small_data.py --faces 2000 --steps 3000 --seeds 0 1 2
    PYTHONPATH=. python benchmarks/small_data.py --faces 200 --steps 20 --seeds 0      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

ARMS: dict[str, str] = {
    "none": "",
    "diffaugment": '[augment]\nname = "diffaugment"\npolicy = "color,translation,cutout"\n',
    "ada": '[augment]\nname = "ada"\nspeed_kimg = {speed_kimg}\n',
}


def extract_faces(lfw_zip: Path, count: int, folder: Path) -> Path:
    """The first ``count`` images of the archive (in name order) as files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(lfw_zip) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(IMAGE_SUFFIXES))[:count]
        if len(names) < count:
            sys.exit(f"{lfw_zip} holds {len(names)} images, fewer than --faces {count}")
        for i, name in enumerate(names):
            target = folder / f"{i:05d}{Path(name).suffix.lower()}"
            if not target.exists():
                target.write_bytes(archive.read(name))
    return folder


def recipe_text(args: argparse.Namespace, faces: Path, arm: str, seed: int) -> str:
    return f"""
[experiment]
name = "small-data-{arm}-seed{seed}"
seed = {seed}
device = "{args.device}"

[data]
name = "image-folder"
root = "{faces}"
image_size = 32

[generator]
name = "dcgan"
latent_dim = 100
features = {args.features}

[discriminator]
name = "dcgan"
features = {args.features}

[train]
epochs = 1000000
max_steps = {args.steps}
batch_size = {args.batch_size}
log_every = 5

{ARMS[arm].format(speed_kimg=args.ada_speed_kimg)}
[[evaluators]]
name = "swd"
every = 1000000
num_samples = {min(args.swd_samples, args.faces)}

[[evaluators]]
name = "diversity"
every = 1000000
num_pairs = {args.diversity_pairs}
"""


def train(args: argparse.Namespace, faces: Path, arm: str, seed: int) -> Path:
    """One run through ``ganlab run``; returns its run directory (the command's last line)."""
    recipe = args.work / "recipes" / f"{arm}-seed{seed}.toml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(recipe_text(args, faces, arm, seed), "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ganlab", "run", str(recipe), "--out", str(args.work / "runs"), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    if done.returncode != 0:
        sys.exit(f"{arm} seed {seed} failed (exit code {done.returncode}):\n{done.stdout}{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def scores(run: Path) -> dict[str, float]:
    """The final evaluation of each metric the run recorded (``metric`` -> ``value``)."""
    final: dict[str, float] = {}
    for line in (run / "evaluations.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        if isinstance(record.get("value"), (int, float)):
            final[record["metric"]] = record["value"]
    return final


def seconds_per_step(run: Path, warmup: int) -> float:
    """The median over the run's log flushes after ``warmup`` steps of the seconds per step between two
    flushes (the steps of one flush share its time)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text("utf-8").splitlines()]
    flushes: dict[float, int] = {}
    for record in records[warmup:]:
        flushes[record["time"]] = record["step"]  # the last step of each flush
    points = sorted(flushes.items())
    rates = [(t1 - t0) / (s1 - s0) for (t0, s0), (t1, s1) in zip(points, points[1:]) if s1 > s0]
    return statistics.median(rates) if rates else float("nan")


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip")
    parser.add_argument("--faces", type=int, default=2000, help="training images taken from LFW")
    parser.add_argument("--steps", type=int, default=3000, help="generator updates per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--features", type=int, default=64, help="width of both DCGAN networks")
    parser.add_argument(
        "--ada-speed-kimg",
        type=float,
        default=20.0,
        help="ADA's speed_kimg: p can go 0 to 1 in this many thousand images",
    )
    parser.add_argument("--swd-samples", type=int, default=1024)
    parser.add_argument("--diversity-pairs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", type=Path, default=Path("small_data_work"))
    args = parser.parse_args()

    faces = extract_faces(args.lfw, args.faces, args.work / f"lfw-{args.faces}")
    results: dict[str, list[tuple[dict[str, float], float]]] = {}
    for arm in args.arms:
        for seed in args.seeds:
            run = train(args, faces, arm, seed)
            results.setdefault(arm, []).append((scores(run), seconds_per_step(run, args.warmup)))
            print(f"# {arm} seed {seed}: {run}", file=sys.stderr, flush=True)

    metrics = sorted({m for runs in results.values() for s, _ in runs for m in s})
    plain = statistics.median(t for _, t in results["none"]) if "none" in results else None
    print(
        f"{args.faces} LFW faces at 32x32, {args.steps} steps of {args.batch_size}, "
        f"seeds {', '.join(map(str, args.seeds))}; mean ± standard deviation over seeds\n"
    )
    print("| arm | " + " | ".join(metrics) + " | s/step | vs none |")
    print("| --- |" + " --- |" * (len(metrics) + 2))
    for arm, runs in results.items():
        cells = [spread([s[m] for s, _ in runs if m in s]) for m in metrics]
        step = statistics.median(t for _, t in runs)
        ratio = f"{step / plain:.2f}x" if plain is not None else "-"
        print(f"| {arm} | " + " | ".join(cells) + f" | {step:.4f} | {ratio} |")


if __name__ == "__main__":
    main()
