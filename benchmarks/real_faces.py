"""Standard scores on real faces, over seeds: the small-data question (does augmentation help a DCGAN on
500 faces?) and the floor every score there should be read against.

Everything runs through ganlab as a user runs it: one ``ganlab sweep --seeds N`` per arm (no
augmentation, DiffAugment, ADA) on the same ``--faces`` LFW faces (``image-folder`` on the archive with
``data.num_images``: a seeded subset; the rest of LFW is held out), then ``ganlab.compare`` over the
three sweeps for mean and 95% bootstrap interval per arm. Every run is scored once, at its end, by:

- ``fid``, ``kid``, ``precision-recall``, ``density-coverage`` against ``--reference`` held-out faces
  (``reference = "auto"``: the faces it never trained on), from ``--samples`` generated images;
- ``fid`` against the training subset itself (``reference = "data"``), which a copying generator wins;
- ``memorisation`` against the training subset: the share of generated images that are near copies.

The floor is the same scores for real held-out faces that are neither trained on nor in the reference
(``--samples`` of them per seed, disjoint across seeds) against the same reference, computed with the
same network and formulas (``ganlab score``'s code). Prints Markdown tables::

    PYTHONPATH=. python benchmarks/real_faces.py --faces 500 --steps 2000 --seeds 3 --samples 1000 --reference 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import ganlab
from ganlab.compare.score import FEATURE_METRICS
from ganlab.compare.seed_spread import spread
from ganlab.evaluators.fidelity import KidConfig, reference_entry
from ganlab.evaluators.memorisation import MemorisationConfig
from ganlab.loading.manager import load_plugins
from ganlab.metrics.cache import ReferenceCache
from ganlab.metrics.inception import frechet_distance, load_inception
from ganlab.metrics.inception import statistics as statistics_of
from ganlab.metrics.neighbours import nearest_training
from ganlab.metrics.reference import ReferenceSample, images_at, sample_indices
from ganlab.metrics.weights import find_weights
from ganlab.recipes.recipe import load_recipe
from ganlab.training.assemble import build_dataset

ROOT = Path(__file__).resolve().parents[1]
ARMS = {
    "none": "",
    "diffaugment": '[augment]\nname = "diffaugment"\npolicy = "color,translation,cutout"\n',
    "ada": '[augment]\nname = "ada"\nspeed_kimg = {speed_kimg}\n',
}
SCORES = (
    "fid_heldout",
    "fid_train",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "memorised_fraction",
    "nn_ratio_median",
    "d_gap",
)
NEVER = 1_000_000
"""An ``every`` no run reaches: the evaluators score once, at the end."""


def data_table(args: argparse.Namespace) -> str:
    return (
        f'name = "image-folder"\nroot = "{args.lfw}"\ncrop = {args.crop}\nimage_size = {args.size}\n'
        f"num_images = {args.faces}\nsubset_seed = 0\n"
    )


def kid_subset(args: argparse.Namespace) -> int:
    return min(KidConfig().subset_size, args.samples, args.reference)


def recipe_text(args: argparse.Namespace, arm: str) -> str:
    common = f"every = {NEVER}\nnum_samples = {args.samples}\n"
    return f"""
[experiment]
name = "lfw{args.faces}-{arm}"
device = "cpu"

[data]
{data_table(args)}
[generator]
name = "dcgan"
latent_dim = 100
features = {args.features}

[discriminator]
name = "dcgan"
features = {args.features}

[loss]
name = "bce"

[train]
epochs = {NEVER}
max_steps = {args.steps}
batch_size = {args.batch_size}
log_every = 20

{ARMS[arm].format(speed_kimg=args.ada_speed_kimg)}
[[evaluators]]
name = "fid"
reference = "data"
{common}num_reference = {args.faces}

[[evaluators]]
name = "memorisation"
{common}num_reference = {args.faces}

[[evaluators]]
name = "kid"
{common}num_reference = {args.reference}
subset_size = {kid_subset(args)}

[[evaluators]]
name = "precision-recall"
{common}num_reference = {args.reference}

[[evaluators]]
name = "density-coverage"
{common}num_reference = {args.reference}

[[evaluators]]
name = "fid"
reference = "auto"
{common}num_reference = {args.reference}
"""


def sweep(args: argparse.Namespace, arm: str) -> Path:
    recipe = args.work / "recipes" / f"{arm}.toml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(recipe_text(args, arm), "utf-8")
    command = [
        sys.executable,
        "-m",
        "ganlab",
        "sweep",
        str(recipe),
        "--seeds",
        str(args.seeds),
        "--name",
        arm,
        "--out",
        str(args.work / "sweeps"),
        "--jobs",
        str(args.jobs),
    ]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{arm}: ganlab sweep exited with {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return args.work / "sweeps" / arm


def run_scores(run: Path) -> dict[str, float]:
    """The run's final scores; the two fids told apart by their reference (held-out or the training set)."""
    found: dict[str, float] = {}
    for line in (run / "evaluations.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        metric = record["metric"]
        if metric == "fid":
            metric = "fid_heldout" if "held-out" in str(record.get("reference_source", "")) else "fid_train"
        found[metric] = record["value"]
    return found


def mean_and_interval(values: list[float]) -> str:
    """Mean and the 95% bootstrap interval of the mean that ``ganlab compare`` reports (its own code)."""
    if len(values) < 2:
        return f"{values[0]:.4g}"
    found = spread(values)
    return f"{found.mean:.4g} [{found.low:.4g}, {found.high:.4g}]"


def floor(args: argparse.Namespace) -> dict[str, list[float]]:
    """Real held-out faces outside the runs' reference sample, ``--samples`` per seed and disjoint across
    seeds, scored as a run's generated images are: same network, same cached reference entries (the
    runs' own, found by the same fingerprints), same formulas."""
    plugins = load_plugins(entry_points=False)
    recipe = load_recipe(args.work / "recipes" / f"{args.arms[0]}.toml", plugins.registry)
    training = build_dataset(recipe, None)
    held_out = training.held_out()
    inception = load_inception(find_weights(), torch.device("cpu"))
    cache = ReferenceCache()
    reference = ReferenceSample(held_out, args.reference, 0)
    train_sample = ReferenceSample(training, args.faces, 0)
    against_held_out = reference_entry(inception, reference, cache, 64, False)
    against_training = reference_entry(inception, train_sample, cache, 64, False)
    in_reference = set(reference.indices().tolist())
    rest = [i for i in sample_indices(held_out, len(held_out), 1).tolist() if i not in in_reference]
    if len(rest) < args.seeds * args.samples:
        sys.exit(f"{len(rest)} held-out faces outside the reference: too few for {args.seeds} x {args.samples}")
    evaluators = [make(inception, cache) for make in FEATURE_METRICS.values()]  # what `ganlab score` computes
    found: dict[str, list[float]] = {key: [] for key in SCORES}
    for seed in range(args.seeds):
        chosen = torch.tensor(rest[seed * args.samples : (seed + 1) * args.samples])
        batches = (images_at(held_out, chosen[i : i + 64]) for i in range(0, len(chosen), 64))
        features = inception.of_batches(batches, len(chosen))
        for evaluator in evaluators:
            for score in evaluator.compute(features, against_held_out, {}):
                found["fid_heldout" if score.metric == "fid" else score.metric].append(score.value)
        found["fid_train"].append(frechet_distance(statistics_of(features), against_training))
        ratio = nearest_training(features, against_training["features"]).ratio
        found["memorised_fraction"].append(float((ratio < MemorisationConfig().threshold).double().mean()))
        found["nn_ratio_median"].append(float(ratio.median()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip")
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--crop", type=int, default=150, help="centre crop of LFW's 250x250 before resizing")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1000, help="generated images per score")
    parser.add_argument("--reference", type=int, default=2000, help="held-out faces in the reference")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ada-speed-kimg", type=float, default=20.0)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    args.work = args.work or Path(tempfile.mkdtemp(prefix="ganlab-real-faces-"))
    print(f"work folder: {args.work}", flush=True)

    folders = {arm: sweep(args, arm) for arm in args.arms}
    comparison = ganlab.compare(list(folders.values()))
    rows: dict[str, dict[str, list[float]]] = {}
    for arm, folder in folders.items():
        per_arm: dict[str, list[float]] = {key: [] for key in SCORES}
        for run in sorted(p for p in folder.iterdir() if (p / "evaluations.jsonl").is_file()):
            scores = run_scores(run)
            for key in SCORES[:-1]:
                per_arm[key].append(scores[key])
        runs = comparison.runs[comparison.runs["path"].astype(str).str.startswith(str(folder))]
        per_arm["d_gap"] = list(runs["d_real"] - runs["d_fake"])
        rows[arm] = per_arm
    rows["floor (real held-out faces)"] = floor(args)
    print(
        f"\n{args.faces} LFW faces at {args.size}x{args.size}, {args.steps} steps, {args.seeds} seeds; "
        f"{args.samples} generated vs {args.reference} held-out (mean [95% bootstrap interval])\n"
    )
    print("| arm | " + " | ".join(SCORES) + " |")
    print("| --- " * (len(SCORES) + 1) + "|")
    for arm, per_arm in rows.items():
        print(
            f"| {arm} | " + " | ".join(mean_and_interval(per_arm[k]) if per_arm.get(k) else "-" for k in SCORES) + " |"
        )
    print("\nganlab compare's statement over the three arms:\n" + comparison.statement)


if __name__ == "__main__":
    main()
