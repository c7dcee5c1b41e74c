"""Data pipeline benchmark: ganlab's preprocessed cache against the usual PyTorch DCGAN pipeline.

Usage (from the repository root; the archive is only read):

    python benchmarks/data_throughput.py --lfw ../shared/data/lfw-deepfunneled.zip [--device cpu|cuda]

It turns the LFW archive's 13,233 real JPEGs into CelebA-size files (178x218, centre of each 250x250
photo, re-encoded at JPEG quality 90 in the img_align_celeba layout) under a work folder, so both
pipelines decode images the size CelebA's are. Then, reference and candidate interleaved round by round
(the machine is shared, so only medians of ratios measured side by side mean much):

1. cache build rate: ganlab's ``celeba`` reader building its cache (draft decode, every core) against the
   same build with full decodes, extrapolated to CelebA's 202,599 images;
2. delivery rate: images/s handed to the training step with no model, from torchvision ``ImageFolder`` +
   Resize + CenterCrop + ToTensor + Normalize in a 2-worker ``DataLoader`` (pytorch/examples dcgan/main.py)
   against ganlab's loader reading uint8 batches from the cache (the engine scales them on the device,
   inside the step, so that cost is in the training figures);
3. training throughput of the default DCGAN-64 recipe (batch 128): ganlab's engine (logging, progress
   bar, its epoch-end grid and checkpoint) against the same networks fed by the usual pipeline, and
   against the same training step repeated on one batch already in memory (the compute limit);
4. peak memory (max RSS of a fresh process) while training a few steps and then reading a whole epoch
   from caches of 1x, 10x and 100x ``--memory-base`` images.

Prints a JSON summary at the end (also written to ``--json``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganlab.data.cache import ImageCache, build_cache  # noqa: E402
from ganlab.data.celeba import CelebAConfig, find_images  # noqa: E402
from ganlab.data.imageset import CachedImages  # noqa: E402
from ganlab.data.loader import BatchLoader  # noqa: E402
from ganlab.data.transform import CropResize  # noqa: E402
from ganlab.loading.manager import load_plugins  # noqa: E402
from ganlab.recipes.recipe import resolve  # noqa: E402
from ganlab.rundir.rundir import RunDir  # noqa: E402
from ganlab.training.assemble import build  # noqa: E402
from ganlab.training.lifecycle import start_meta  # noqa: E402
from ganlab.training.loop import Trainer  # noqa: E402
from ganlab.training.sampling import to_model_range  # noqa: E402

CELEBA_IMAGES = 202_599


def make_celeba_proxy(lfw_zip: Path, work: Path) -> Path:
    """LFW's photos as CelebA-size JPEGs in CelebA's folder layout; made once per work folder."""
    folder = work / "celeba" / "img_align_celeba"
    if folder.is_dir():
        return work / "celeba"
    partial = work / "celeba.partial" / "img_align_celeba"
    partial.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(lfw_zip) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
        for i, name in enumerate(names, 1):
            with Image.open(io.BytesIO(archive.read(name))) as photo:
                photo.convert("RGB").crop((36, 16, 214, 234)).save(partial / f"{i:06d}.jpg", quality=90)
    partial.parent.rename(work / "celeba")
    return work / "celeba"


def celeba_dataset(root: Path, cache_dir: Path, draft: bool = True, workers: int = 0) -> CachedImages:
    config = CelebAConfig(root=str(root), cache_dir=str(cache_dir), workers=workers)
    transform = CropResize(config.image_size, config.crop, config.resize_filter, draft=draft)
    return CachedImages(find_images(config), transform, config)


def usual_loader(root: Path, batch_size: int = 128, workers: int = 2):
    """pytorch/examples dcgan/main.py's CelebA pipeline."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    dataset = dset.ImageFolder(
        str(root),
        transform=T.Compose(
            [T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
        ),
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
    )


# -- 1. cache build -------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the cache build's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cache_build_rate(root: Path, work: Path, draft: bool) -> tuple[float, float]:
    """(images/s of wall time, images/s that 2 otherwise idle cores would give by the CPU time used)."""
    dataset = celeba_dataset(root, work / "build-cache", draft=draft)
    shutil.rmtree(dataset.cache_path, ignore_errors=True)
    started, cpu = time.perf_counter(), cpu_seconds()
    cache = build_cache(dataset.cache_path, dataset.source, dataset.transform, progress=False)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    shutil.rmtree(dataset.cache_path)
    return cache.count / wall, cache.count / (cpu / 2)


# -- 2. delivery ----------------------------------------------------------------------------------------
def delivery_usual(root: Path, device: torch.device, batches: int) -> float:
    loader = usual_loader(root)
    iterator = iter(loader)
    next(iterator)  # workers started and warm
    started, images = time.perf_counter(), 0
    for _ in range(batches):
        real, _ = next(iterator)
        images += real.to(device).shape[0]
    _sync(device)
    return images / (time.perf_counter() - started)


def delivery_cache(dataset: CachedImages, device: torch.device, residency: str) -> float:
    """uint8 batches on the device, as the engine's step receives them (it scales them there)."""
    loader = BatchLoader(dataset, 128, seed=0, device=device, residency=residency)
    started, images = time.perf_counter(), 0
    for batch in loader.epoch(0):
        images += batch.images.to(device, non_blocking=True).shape[0]
    _sync(device)
    return images / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- 3. training ----------------------------------------------------------------------------------------
def default_recipe(root: Path, cache_dir: Path, device: str):
    document = {
        "experiment": {"name": "bench", "device": device},
        "data": {"name": "celeba", "root": str(root), "cache_dir": str(cache_dir)},
        "train": {"batch_size": 128, "num_workers": 2},
    }
    return resolve(document, load_plugins(entry_points=False).registry, "benchmark")


def train_ganlab(recipe, out: Path, warmup: int, steps: int) -> float:
    """Steady-state images/s of the engine itself: logging, progress bar and data loading included.

    Times from the start of the first measured step to the start of the last, so the end-of-run grid and
    checkpoint (once per epoch in a real run) are not counted against the steps.
    """
    plugins = load_plugins(entry_points=False)
    run = Trainer(build(recipe), RunDir.create(out, "bench"), plugins, progress=True)
    run.run_dir.write_meta(start_meta(run, plugins))
    starts = []
    step = run.training_step
    run.training_step = lambda *args: (starts.append(time.perf_counter()), step(*args))[1]
    run.total_steps = warmup + steps + 1
    run.train()
    measured = starts[warmup:]
    return (len(measured) - 1) * recipe.train.batch_size / (measured[-1] - measured[0])


def train_step(built, real: torch.Tensor) -> None:
    """pytorch/examples dcgan's step on the same networks, optimisers and loss as the engine's."""
    z = torch.randn(real.shape[0], built.generator.latent_dim, device=built.device)
    fake = built.generator(z)
    loss_d = built.loss.discriminator_loss(built.discriminator(real), built.discriminator(fake.detach()))
    built.optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    built.optimizer_d.step()
    loss_g = built.loss.generator_loss(built.discriminator(fake))
    built.optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    built.optimizer_g.step()


def train_usual(recipe, root: Path, warmup: int, steps: int) -> float:
    built = build(recipe)
    batches = iter(usual_loader(root))
    for _ in range(warmup):
        train_step(built, next(batches)[0].to(built.device))
    started = time.perf_counter()
    for _ in range(steps):
        train_step(built, next(batches)[0].to(built.device, non_blocking=True))
    _sync(built.device)
    return steps * 128 / (time.perf_counter() - started)


def train_compute_limit(recipe, warmup: int, steps: int) -> float:
    built = build(recipe)
    real = to_model_range(built.dataset.get_batch(torch.arange(128)).to(built.device))
    for _ in range(warmup):
        train_step(built, real)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(built, real)
    _sync(built.device)
    return steps * 128 / (time.perf_counter() - started)


# -- 4. memory ------------------------------------------------------------------------------------------
def tiled_cache(base: ImageCache, count: int, cache_root: Path) -> Path:
    """A cache of ``count`` images made by repeating ``base``'s rows; the layout ganlab reads."""
    path = cache_root / f"tiled-{count}"
    if not (path / "meta.json").exists():
        path.mkdir(parents=True, exist_ok=True)
        rows = base.read_range(0, base.count)
        with open(path / "images.u8", "wb") as out:
            for start in range(0, count, base.count):
                out.write(rows[: min(base.count, count - start)].tobytes())
        meta = {**base.meta, "count": count, "skipped": []}
        (path / "meta.json").write_text(json.dumps(meta), "utf-8")
    return path


class CacheRows:
    """The smallest data set over a cache folder: what the memory test trains from."""

    def __init__(self, cache: ImageCache):
        self.cache = cache
        self.channels, self.image_size = cache.shape[0], cache.shape[1]

    def __len__(self) -> int:
        return self.cache.count

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.cache.read(indices.numpy()))


def memory_child(cache_path: str, device: str, steps: int) -> None:
    """Run in a fresh process: train ``steps`` steps from the cache, read one whole epoch, print max RSS."""
    dataset = CacheRows(ImageCache.open(Path(cache_path)))
    document = {
        "experiment": {"device": device},
        "data": {"name": "synthetic-faces", "image_size": 64, "num_images": 128},
    }
    built = build(resolve(document, load_plugins(entry_points=False).registry, "memory benchmark"))
    loader = BatchLoader(dataset, 128, seed=0, device=built.device, residency="never")
    for i, batch in enumerate(loader.epoch(0)):
        if i < steps:
            train_step(built, to_model_range(batch.images.to(built.device)))
    resident = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    print(
        json.dumps(
            {
                "images": len(dataset),
                "cache_mib": round(dataset.cache.nbytes / 2**20, 1),
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "rss_after_epoch_mib": round(resident / 2**20, 1),
            }
        )
    )


def peak_memory(cache_path: Path, device: str, steps: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(cache_path), "--device", device, "--steps", str(steps)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- driver ---------------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ganlab-bench")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delivery-batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--memory-base", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.device, args.steps)

    device = torch.device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    root = make_celeba_proxy(args.lfw, args.work)
    cache_dir = args.work / "cache"
    dataset = celeba_dataset(root, cache_dir)
    len(dataset)  # build (or reuse) the training cache
    residency = "auto" if device.type != "cpu" else "never"
    rates: dict[str, list[float]] = {
        k: []
        for k in (
            "build_draft",
            "build_full",
            "build_draft_cpu",
            "build_full_cpu",
            "deliver_usual",
            "deliver_cache",
            "train_usual",
            "train_ganlab",
            "train_compute_limit",
        )
    }
    recipe = default_recipe(root, cache_dir, args.device)
    for round_ in range(args.rounds):
        for kind, draft in (("full", False), ("draft", True)):
            wall, cpu = cache_build_rate(root, args.work, draft)
            rates[f"build_{kind}"].append(wall)
            rates[f"build_{kind}_cpu"].append(cpu)
        rates["deliver_usual"].append(delivery_usual(root, device, args.delivery_batches))
        rates["deliver_cache"].append(delivery_cache(dataset, device, residency))
        rates["train_usual"].append(train_usual(recipe, root, args.warmup, args.steps))
        rates["train_compute_limit"].append(train_compute_limit(recipe, args.warmup, args.steps))
        with tempfile.TemporaryDirectory() as runs:
            rates["train_ganlab"].append(train_ganlab(recipe, Path(runs), args.warmup, args.steps))
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rates.items()), flush=True)

    base = dataset.prepare()
    memory = [
        peak_memory(tiled_cache(base, args.memory_base * factor, args.work / "tiled"), args.device, args.steps)
        for factor in (1, 10, 100)
    ]
    medians = {k: median(v) for k, v in rates.items()}
    ratios = lambda a, b: round(statistics.median(x / y for x, y in zip(rates[a], rates[b])), 2)  # noqa: E731
    summary = {
        "machine": {
            "cpus": os.cpu_count(),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "images": len(dataset),
        "rounds": args.rounds,
        "medians_images_per_s": medians,
        "ratios": {
            "build_draft_vs_full": ratios("build_draft", "build_full"),
            "deliver_cache_vs_usual": ratios("deliver_cache", "deliver_usual"),
            "train_ganlab_vs_usual": ratios("train_ganlab", "train_usual"),
            "train_ganlab_vs_compute_limit": ratios("train_ganlab", "train_compute_limit"),
        },
        "celeba_cache_build_s_extrapolated": round(CELEBA_IMAGES / medians["build_draft"], 1),
        "celeba_cache_build_s_extrapolated_idle_2_cores": round(CELEBA_IMAGES / medians["build_draft_cpu"], 1),
        "peak_memory": memory,
        "all_rounds": rates,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
