"""Two versions of ganlab side by side: the training step, the real-data training loop, and start-up.

Each measurement runs every source tree in its own subprocesses (``PYTHONPATH=TREE``), alternating the
trees round by round, so a machine whose speed drifts treats both alike; medians over the rounds, and the
median of the per-round ratios (NEW / OLD for speeds, OLD / NEW for times: above 1 is NEW faster).

``--measure step`` (the default): the fp32 DCGAN-64 training step in memory. Each tree's own
``benchmarks/scale.py`` variants (``ganlab_variant`` with no overrides: fp32, and ``reference_variant``:
pytorch/examples dcgan/main.py's loop on the same networks and data), so each tree is timed with its own
engine and each subprocess times the reference beside it; per tree the median step of both and the
median of the per-round ratios (reference step / ganlab step: above 1 is faster than the reference).

``--measure real-data``: what surrounds the step on real images. The first ``--count`` images of
``--faces`` (the LFW archive, or any zip or folder of JPEGs in class sub-folders) are copied into a
folder; each tree runs ``ganlab run`` (its own CLI, in-process in a child) on an ``image-folder`` recipe
of the classic DCGAN (BCE, real label 0.9, Adam 2e-4, no evaluators) for ``--epochs`` epochs, per
``--configs`` SIZExBATCH: the cache reader, the loader, per-step logging, and each epoch's grid and
checkpoint. Beside them, in the same rounds, "usual": pytorch/examples dcgan/main.py's pipeline on the same
images (torchvision ImageFolder + Resize + CenterCrop + ToTensor + Normalize, a 2-worker DataLoader
iterated afresh each epoch, the same DCGAN networks and losses, the fixed-noise grid and both networks
saved every epoch). Each tree's caches are built by an untimed run first. Per run (epoch 1 left out as
warm-up):

- ``step img/s``: batch / median interval between consecutive steps inside an epoch;
- ``epoch overhead s``: median over epoch boundaries of the interval across the boundary less that
  median step (flush, grid, checkpoint, the next epoch's loader); ``of which epoch end s``: the median
  time of the epoch's end itself (ganlab's ``_end_epoch``: progress grid, evaluators, checkpoint; usual: its
  grid and the two saved networks);
- ``img/s incl. epochs``: images of epochs 2.. / their wall time from the first step of epoch 2 to the end
  of the last epoch's work: the throughput a user sees.

``--measure startup``: wall time of fresh processes: ``ganlab --help``, ``ganlab validate
experiments/quickstart.toml`` (each tree's own quickstart), and a 2-step ``ganlab run`` of the real-data
recipe at the first ``--configs`` entry (its cache built beforehand).

    PYTHONPATH=. python benchmarks/engine_before_after.py OLD_TREE NEW_TREE [--rounds 3] [--steps 5]
    PYTHONPATH=. python benchmarks/engine_before_after.py OLD_TREE NEW_TREE --measure real-data \\
        --faces ../shared/data/lfw-deepfunneled.zip --count 558 --configs 32x64 64x128 --epochs 4 --rounds 5
    PYTHONPATH=. python benchmarks/engine_before_after.py OLD_TREE NEW_TREE --measure startup \\
        --faces ../shared/data/lfw-deepfunneled.zip --count 558 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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

GANLAB_RUN = """
# ``ganlab run`` in this process, with the start of every step and each epoch's end work timed; works with
# the engine of 0.2.0 (ganlab.engine), of 0.3 and 0.4 (ganlab.training.loop.Run) and after (its Trainer).
import json, sys, time
out_file, argv = sys.argv[1], sys.argv[2:]
try:
    from ganlab.training.loop import Trainer as Run
except ImportError:
    try:
        from ganlab.training.loop import Run
    except ImportError:
        from ganlab.engine import Run
try:
    from ganlab.cli.main import main
except ImportError:
    from ganlab.cli import main
import torch
steps, epoch_ends, threads = [], [], []
train_step, end_epoch = Run._train_step, Run._end_epoch
def timed_step(self, *args, **kwargs):
    steps.append(time.perf_counter())
    threads[:] = [torch.get_num_threads()]
    return train_step(self, *args, **kwargs)
def timed_end(self, *args, **kwargs):
    started = time.perf_counter()
    try:
        return end_epoch(self, *args, **kwargs)
    finally:
        epoch_ends.append((started, time.perf_counter()))
Run._train_step, Run._end_epoch = timed_step, timed_end
try:
    main(argv, standalone_mode=False)
finally:
    with open(out_file, "w") as f:
        json.dump({"steps": steps, "epoch_ends": epoch_ends, "threads": threads[0] if threads else None}, f)
"""

USUAL_RUN = """
# pytorch/examples dcgan/main.py's loop on ganlab's DCGAN networks (the same in every tree), timed as above.
import json, sys, time
from pathlib import Path
import torch, torchvision.datasets as dset, torchvision.transforms as T, torchvision.utils as vutils
from torch import nn
from ganlab.components.dcgan import DCGANDiscriminator, DCGANGenerator
out_file, root, size, batch, epochs, work = sys.argv[1:7]
size, batch, epochs = int(size), int(batch), int(epochs)
torch.manual_seed(0)
dataset = dset.ImageFolder(root, transform=T.Compose([
    T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=2, drop_last=True)
netG, netD = DCGANGenerator(100, 64, size, 3), DCGANDiscriminator(64, size, 3)
def weights_init(m):
    if "Conv" in type(m).__name__:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in type(m).__name__:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
netG.apply(weights_init); netD.apply(weights_init)
criterion = nn.BCEWithLogitsLoss()
fixed_noise = torch.randn(64, 100)
optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
steps, epoch_ends = [], []
for epoch in range(epochs):
    for real, _ in loader:
        steps.append(time.perf_counter())
        real_label = torch.full((batch,), 0.9)
        netD.zero_grad()
        err_real = criterion(netD(real), real_label)
        err_real.backward()
        fake = netG(torch.randn(batch, 100))
        err_fake = criterion(netD(fake.detach()), torch.zeros(batch))
        err_fake.backward()
        optD.step()
        netG.zero_grad()
        err_g = criterion(netD(fake), torch.ones(batch))
        err_g.backward()
        optG.step()
        losses = (err_real + err_fake).item(), err_g.item()     # the example prints them every step
    started = time.perf_counter()
    vutils.save_image(netG(fixed_noise).detach(), f"{work}/fake_samples_epoch_{epoch:03d}.png", normalize=True)
    torch.save(netG.state_dict(), f"{work}/netG_epoch_{epoch}.pth")
    torch.save(netD.state_dict(), f"{work}/netD_epoch_{epoch}.pth")
    epoch_ends.append((started, time.perf_counter()))
with open(out_file, "w") as f:
    json.dump({"steps": steps, "epoch_ends": epoch_ends, "threads": torch.get_num_threads()}, f)
"""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# -- helpers ----------------------------------------------------------------------------------------------
def child_env(tree: Path, threads: int) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def ratio(values_new: list[float], values_old: list[float]) -> float:
    return statistics.median(n / o for n, o in zip(values_new, values_old))


def copy_faces(source: Path, count: int, folder: Path) -> Path:
    """The first ``count`` images of ``source`` (a zip or folder; in name order) under ``folder``, each
    in a sub-folder named after the one it was in (ImageFolder's class layout, LFW's person folders)."""
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{source.resolve()} {count}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    if source.is_dir():
        names = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        read = lambda name: (source / name).read_bytes()  # noqa: E731
    else:
        archive = zipfile.ZipFile(source)
        names = sorted(n for n in archive.namelist() if n.lower().endswith(IMAGE_SUFFIXES))
        read = archive.read
    if len(names) < count:
        sys.exit(f"{source} holds {len(names)} images, fewer than --count {count}")
    for name in names[:count]:
        parts = Path(name).parts
        target = folder / (parts[-2] if len(parts) > 1 else "images") / parts[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(name))
    marker.write_text(f"{source.resolve()} {count}")
    return folder


def recipe_text(faces: Path, size: int, batch: int, epochs: int) -> str:
    """The classic DCGAN recipe on ``faces`` without evaluators; keys that ganlab 0.2.0 reads too."""
    return f"""
[experiment]
name = "real-data-{size}"
seed = 0
device = "cpu"

[data]
name = "image-folder"
root = "{faces}"
image_size = {size}

[generator]
name = "dcgan"
latent_dim = 100
features = 64

[discriminator]
name = "dcgan"
features = 64

[loss]
name = "bce"
real_label = 0.9

[optimizer.generator]
name = "adam"
lr = 2e-4
betas = [0.5, 0.999]

[optimizer.discriminator]
name = "adam"
lr = 2e-4
betas = [0.5, 0.999]

[init]
name = "dcgan-normal"

[train]
epochs = {epochs}
batch_size = {batch}
"""


def summarise(timing: dict, batch: int, steps_per_epoch: int) -> dict[str, float]:
    """Steady-state figures of one run's step starts and epoch ends (see the module's docstring)."""
    starts = timing["steps"]
    epochs = [starts[i : i + steps_per_epoch] for i in range(0, len(starts), steps_per_epoch)]
    inside = [b - a for epoch in epochs[1:] for a, b in zip(epoch, epoch[1:])]
    step = statistics.median(inside) if inside else float("nan")
    across = [epochs[e + 1][0] - epochs[e][-1] - step for e in range(1, len(epochs) - 1)]
    first, last_end = epochs[1][0] if len(epochs) > 1 else starts[0], timing["epoch_ends"][-1][1]
    images = (len(starts) - steps_per_epoch) * batch
    return {
        "step_img_s": batch / step,
        "epoch_overhead_s": statistics.median(across) if across else float("nan"),
        "img_s_with_epochs": images / (last_end - first) if images else float("nan"),
        "epoch_end_s": statistics.median(b - a for a, b in timing["epoch_ends"][1:] or timing["epoch_ends"]),
        "threads": timing["threads"],
    }


# -- step -------------------------------------------------------------------------------------------------
def one_round(tree: Path, steps: int, images: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", ONE_ROUND, str(tree), str(steps), str(images)],
        env=child_env(tree, 0),
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_step(args: argparse.Namespace) -> None:
    results: dict[Path, list[dict[str, float]]] = {tree: [] for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            results[tree].append(one_round(tree.resolve(), args.steps, args.images))
    print(
        f"DCGAN-64, batch 128, fp32, CPU ({os.cpu_count()} cores); {args.rounds} alternating rounds of "
        f"{args.steps} steps after 2 warm-up steps per variant"
    )
    print(f"{'tree':40} {'reference ms':>13} {'ganlab ms':>10} {'ganlab vs reference':>20}")
    for tree, rounds in results.items():
        reference = statistics.median(r["reference"] for r in rounds)
        ours = statistics.median(r["ganlab"] for r in rounds)
        ratio_ = statistics.median(r["reference"] / r["ganlab"] for r in rounds)
        print(f"{str(tree):40} {reference * 1e3:13.1f} {ours * 1e3:10.1f} {ratio_:19.2f}x")


# -- real data --------------------------------------------------------------------------------------------
def timed_child(tree: Path, script: str, args: list[str], out: Path, threads: int) -> dict:
    """Run ``script`` (one of the timing scripts above) under ``tree``'s ganlab in ``out``: what it timed."""
    timing = out / "timing.json"
    subprocess.run(
        [sys.executable, "-c", script, str(timing), *args],
        env=child_env(tree, threads),
        cwd=out,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(timing.read_text())


def ganlab_run(tree: Path, recipe: Path, out: Path, threads: int, overrides: list[str] = ()) -> dict:
    argv = ["run", str(recipe), "--out", str(out), "--no-progress", *[a for o in overrides for a in ("--set", o)]]
    return timed_child(tree, GANLAB_RUN, argv, out, threads)


def usual_run(tree: Path, faces: Path, size: int, batch: int, epochs: int, out: Path, threads: int) -> dict:
    return timed_child(tree, USUAL_RUN, [str(faces), str(size), str(batch), str(epochs), str(out)], out, threads)


def measure_real_data(args: argparse.Namespace) -> dict:
    old, new = (tree.resolve() for tree in args.trees)
    faces = copy_faces(args.faces, args.count, args.work / f"faces-{args.count}")
    arms = {
        "old": lambda r, o: ganlab_run(old, r, o, args.threads),
        "new": lambda r, o: ganlab_run(new, r, o, args.threads),
    }
    if args.labels:
        arms["new, labels"] = lambda r, o: ganlab_run(new, r, o, args.threads, ['data.labels="folders"'])
    for setting in args.new_set:
        arms[f"new, {setting}"] = lambda r, o, setting=setting: ganlab_run(new, r, o, args.threads, [setting])
    summary: dict = {}
    for config in args.configs:
        size, batch = (int(x) for x in config.split("x"))
        steps_per_epoch = args.count // batch
        recipe = args.work / f"real-data-{config}.toml"
        recipe.write_text(recipe_text(faces, size, batch, args.epochs), "utf-8")
        for tree in (old, new):  # each tree's cache built, untimed
            with tempfile.TemporaryDirectory(dir=args.work) as out:
                ganlab_run(tree, recipe, Path(out), args.threads, ["train.max_steps=1"])
        rows: dict[str, list[dict]] = {name: [] for name in (*arms, "usual")}
        for round_ in range(args.rounds):
            for name, arm in arms.items():
                with tempfile.TemporaryDirectory(dir=args.work) as out:
                    rows[name].append(summarise(arm(recipe, Path(out)), batch, steps_per_epoch))
            with tempfile.TemporaryDirectory(dir=args.work) as out:
                timing = usual_run(new, faces, size, batch, args.epochs, Path(out), args.threads)
                rows["usual"].append(summarise(timing, batch, steps_per_epoch))
            print(
                f"{config} round {round_ + 1}: "
                + ", ".join(f"{n} {r[-1]['img_s_with_epochs']:.1f} img/s" for n, r in rows.items()),
                flush=True,
            )
        summary[config] = rows
        print_real_data(config, args, rows, steps_per_epoch)
    return summary


def print_real_data(config: str, args: argparse.Namespace, rows: dict[str, list[dict]], steps_per_epoch: int) -> None:
    threads = sorted({r["threads"] for rs in rows.values() for r in rs}, key=str)
    print(
        f"\n{config} (image side x batch), {args.count} faces, {steps_per_epoch} steps an epoch, {args.epochs} "
        f"epochs (epoch 1 left out); medians of {args.rounds} alternating rounds; torch threads {threads}, "
        f"{os.cpu_count()} cores"
    )
    print(f"old = {args.trees[0]}, new = {args.trees[1]}")
    print("| arm | step img/s | epoch overhead s | of which epoch end s | img/s incl. epochs | vs old | vs usual |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        step = statistics.median(r["step_img_s"] for r in rs)
        overhead = statistics.median(r["epoch_overhead_s"] for r in rs)
        end = statistics.median(r["epoch_end_s"] for r in rs)
        whole = [r["img_s_with_epochs"] for r in rs]
        vs_old = ratio(whole, [r["img_s_with_epochs"] for r in rows["old"]])
        vs_usual = ratio(whole, [r["img_s_with_epochs"] for r in rows["usual"]])
        print(
            f"| {name} | {step:.1f} | {overhead:.2f} | {end:.2f} | {statistics.median(whole):.1f} | {vs_old:.2f}x | "
            f"{vs_usual:.2f}x |"
        )


# -- start-up ---------------------------------------------------------------------------------------------
def wall(command: list[str], tree: Path, cwd: Path, threads: int) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=child_env(tree, threads), cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def measure_startup(args: argparse.Namespace) -> dict:
    old, new = (tree.resolve() for tree in args.trees)
    faces = copy_faces(args.faces, args.count, args.work / f"faces-{args.count}")
    size, batch = (int(x) for x in args.configs[0].split("x"))
    recipe = args.work / f"startup-{args.configs[0]}.toml"
    recipe.write_text(recipe_text(faces, size, batch, 1), "utf-8")
    ganlab = [sys.executable, "-m", "ganlab"]
    commands = {
        "help": lambda tree, out: ganlab + ["--help"],
        "validate": lambda tree, out: ganlab + ["validate", str(tree / "experiments" / "quickstart.toml")],
        "run": lambda tree, out: (
            ganlab + ["run", str(recipe), "--out", str(out), "--no-progress", "--set", "train.max_steps=2"]
        ),
    }
    commands = {name: commands[name] for name in args.commands}
    for tree in (old, new):  # caches built, untimed
        with tempfile.TemporaryDirectory(dir=args.work) as out:
            wall(commands.get("run", lambda t, o: ganlab + ["--help"])(tree, out), tree, args.work, args.threads)
    times: dict[str, dict[Path, list[float]]] = {name: {old: [], new: []} for name in commands}
    for round_ in range(args.rounds):
        for name, command in commands.items():
            for tree in (old, new):
                with tempfile.TemporaryDirectory(dir=args.work) as out:
                    times[name][tree].append(wall(command(tree, out), tree, args.work, args.threads))
        print(
            f"round {round_ + 1}: "
            + ", ".join(f"{name} {t[old][-1]:.2f}/{t[new][-1]:.2f} s" for name, t in times.items()),
            flush=True,
        )
    print(
        f"\nStart-up, wall seconds of a fresh process; medians of {args.rounds} alternating rounds; "
        f"{os.cpu_count()} cores; 2-step run: {args.configs[0]} on {args.count} faces, cache built"
    )
    print(f"old = {old}, new = {new}")
    print("| command | old s | new s | old / new |")
    print("|---|---|---|---|")
    labels = {
        "help": "ganlab --help",
        "validate": "ganlab validate experiments/quickstart.toml",
        "run": "ganlab run (2 steps)",
    }
    for name, t in times.items():
        print(
            f"| {labels[name]} | {statistics.median(t[old]):.2f} | {statistics.median(t[new]):.2f} | "
            f"{ratio(t[old], t[new]):.2f}x |"
        )
    return {name: {str(tree): values for tree, values in t.items()} for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="the source trees to compare: before (old), after (new)")
    parser.add_argument("--measure", choices=("step", "real-data", "startup"), default="step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="step: timed steps per variant")
    parser.add_argument("--images", type=int, default=2048, help="step: synthetic images in memory")
    parser.add_argument(
        "--faces",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip",
        help="real-data, startup: a zip or folder of images in class sub-folders (LFW)",
    )
    parser.add_argument("--count", type=int, default=558, help="real-data, startup: images taken from --faces")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["32x64", "64x128"],
        help="real-data: SIZExBATCH to train (startup: the first, for its 2-step run)",
    )
    parser.add_argument("--epochs", type=int, default=4, help="real-data: epochs per run (the first is warm-up)")
    parser.add_argument(
        "--labels",
        action="store_true",
        help='real-data: also the new tree with data.labels = "folders" (labels gathered per batch)',
    )
    parser.add_argument(
        "--new-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="real-data: also the new tree with this --set (one arm per option), e.g. train.grid_every=4",
    )
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=("help", "validate", "run"),
        default=["help", "validate", "run"],
        help="startup: the commands to time",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="real-data, startup: OMP_NUM_THREADS of every child; 0: each tree's own choice",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "ganlab-before-after",
        help="real-data, startup: folder for the copied images and the runs",
    )
    parser.add_argument("--json", type=Path, help="real-data, startup: also write every round's figures here")
    args = parser.parse_args()
    if args.measure == "step":
        return measure_step(args)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GANLAB_CACHE_DIR", str(args.work / "cache"))
    result = measure_real_data(args) if args.measure == "real-data" else measure_startup(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", "utf-8")


if __name__ == "__main__":
    main()
