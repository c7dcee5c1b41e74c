"""Throughput at scale: GPU epoch time of the default DCGAN-64 recipe, and CPU scaling from 1 to 2 processes.

``gpu-epoch`` trains the default recipe (experiments/dcgan_celeba.toml: DCGAN 64x64, width 64, latent 100,
batch 128, Adam) on CelebA-shaped data (202,599 uint8 images of 3x64x64 held on the device, random
content: speed does not depend on what the pixels show) for a number of steps, with ganlab's engine at
fp32, bf16, and bf16 + torch.compile + channels-last, and with the training loop of pytorch/examples
dcgan/main.py (same networks, same batches already on the device) as the reference. The variants are
timed in interleaved rounds after a warm-up (compilation included there). It prints the median step
time, the extrapolated epoch time, the speed-up over the reference, and the fraction of the device's
matrix throughput (``--peak-tflops``; 989 bf16 dense for an H100 SXM) that the step reaches, counting
FLOPs with torch's FlopCounterMode. ``--device cpu`` runs the same comparison on the CPU.

``cpu-scaling`` runs ``ganlab run --nproc N`` on a DCGAN-32 quickstart-sized recipe for N = 1 and 2
(gloo), interleaved over several rounds, and compares images per second.

``cpu-precision`` runs the quickstart on the CPU without evaluators at ``train.precision`` fp32, bf16 and fp16,
interleaved over several rounds, and prints images per second and whether the CPU has native bf16 and
fp16 instructions: what ganlab's warning about an emulated precision rests on.

    PYTHONPATH=. python benchmarks/scale.py gpu-epoch [--device cuda] [--steps 100] [--rounds 3] [--peak-tflops 989]
    PYTHONPATH=. python benchmarks/scale.py cpu-scaling [--rounds 3] [--steps 60]
    PYTHONPATH=. python benchmarks/scale.py cpu-precision [--rounds 3] [--steps 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganlab import hookimpl, param
from ganlab.loading.manager import load_plugins
from ganlab.machine.cpu_features import this_cpu
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.loop import Trainer

ROOT = Path(__file__).resolve().parent.parent
CELEBA_IMAGES = 202_599


@dataclasses.dataclass
class RandomImagesConfig:
    num_images: int = param(CELEBA_IMAGES, "images in the data set")
    image_size: int = param(64, "side in pixels")


@functools.cache
def random_images(num_images: int, image_size: int) -> torch.Tensor:
    """One shared tensor per shape: the variants time the same pixels without holding copies of 2.5 GB."""
    return torch.randint(
        0, 256, (num_images, 3, image_size, image_size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


class RandomImages:
    """CelebA-shaped uint8 images in one tensor, gathered like the preprocessed cache."""

    def __init__(self, config: RandomImagesConfig):
        self.images = random_images(config.num_images, config.image_size)
        self.image_size, self.channels = config.image_size, 3

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, index):
        return self.images[index]

    def get_batch(self, indices):
        return self.images[indices]

    def describe(self):
        return {"source": "random", "count": len(self)}


class BenchmarkData:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add(
            "dataset",
            "random-images",
            lambda config, context: RandomImages(config),
            RandomImagesConfig,
            help="random CelebA-shaped images for timing",
        )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, batches, device: torch.device) -> list[float]:
    """Seconds per step, measured around each step with the device synchronised."""
    times = []
    for batch in batches:
        synchronize(device)
        start = time.perf_counter()
        step(batch)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def endless(batches_of_epoch):
    """Batches without end: epoch after epoch of the variant's own loader."""
    epoch = 0
    while True:
        yield from batches_of_epoch(epoch)
        epoch += 1


def ganlab_variant(plugins, overrides: list[str], args, folder: Path, name: str):
    """(step, batches) of ganlab's own training step under ``overrides``, built as ``ganlab run`` builds it."""
    recipe = load_recipe(
        ROOT / "experiments" / "dcgan_celeba.toml",
        plugins.registry,
        [
            f'data={{name="random-images", num_images={args.images}}}',
            f'experiment.device="{args.device}"',
            'train.data_on_device="always"',
            "evaluators=[]",
            *overrides,
        ],
    )
    run = Trainer(build(recipe), RunDir.create(folder, name), plugins, progress=False)
    steps = itertools.count()
    return (lambda real: run.training_step([real], next(steps))), endless(run.loader.epoch), run.run_dir.unlock


def reference_variant(args):
    """pytorch/examples dcgan/main.py's loop: BCELoss on sigmoid outputs, real label 1, D on real then
    detached fake, G step through the updated D, Adam 2e-4 (0.5, 0.999); batches already on the device."""
    device = torch.device(args.device)
    from ganlab.components.dcgan import DCGANDiscriminator, DCGANGenerator

    net_g = DCGANGenerator(100, 64, 64, 3).to(device)
    net_d = nn.Sequential(DCGANDiscriminator(64, 64, 3), nn.Sigmoid()).to(device)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = random_images(args.images, 64).to(device)

    def step(indices):
        real = data[indices].float().div_(127.5).sub_(1)
        b = real.shape[0]
        net_d.zero_grad()
        err_real = criterion(net_d(real), torch.full((b,), 1.0, device=device))
        err_real.backward()
        fake = net_g(torch.randn(b, 100, device=device))
        err_fake = criterion(net_d(fake.detach()), torch.full((b,), 0.0, device=device))
        err_fake.backward()
        opt_d.step()
        net_g.zero_grad()
        err_g = criterion(net_d(fake), torch.full((b,), 1.0, device=device))
        err_g.backward()
        opt_g.step()

    def batches_of_epoch(epoch):
        order = torch.randperm(args.images, device=device)
        return (order[i * 128 : (i + 1) * 128] for i in range(args.images // 128))

    return step, endless(batches_of_epoch), lambda: None


def flops_per_step(plugins, args, folder: Path) -> float:
    """FLOPs of one fp32 eager ganlab step; precision and compilation change the speed, not the count."""
    step, batches, release = ganlab_variant(plugins, [], args, folder, "flop-count")
    with FlopCounterMode(display=False) as counter:
        step(next(batches))
    release()
    return counter.get_total_flops()


GPU_VARIANTS = {
    "ganlab fp32": [],
    "ganlab bf16": ['train.precision="bf16"'],
    "ganlab bf16 + compile + channels-last": [
        'train.precision="bf16"',
        "train.compile=true",
        "train.channels_last=true",
    ],
}
REFERENCE = "pytorch/examples dcgan (fp32)"


def gpu_epoch(args) -> None:
    """Warm every variant up, then time them in interleaved rounds, so each round's ratios share one
    state of the machine; the reported figures are medians over rounds of each round's median step."""
    plugins = load_plugins([("benchmark-data", BenchmarkData())], entry_points=False)
    steps_per_epoch = args.images // 128
    with tempfile.TemporaryDirectory() as folder:
        flops = flops_per_step(plugins, args, Path(folder))
        variants = {REFERENCE: reference_variant(args)}
        for name, overrides in GPU_VARIANTS.items():
            variants[name] = ganlab_variant(plugins, overrides, args, Path(folder), name.replace(" ", "_"))
        device = torch.device(args.device)
        for step, batches, _ in variants.values():
            time_steps(step, (next(batches) for _ in range(args.warmup)), device)
        rounds: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (step, batches, _) in variants.items():
                times = time_steps(step, (next(batches) for _ in range(args.steps)), device)
                rounds[name].append(statistics.median(times))
        for _, _, release in variants.values():
            release()
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({os.cpu_count()} cores)"
    print(
        f"device: {device_name}; {args.images:,} images, {steps_per_epoch} steps per epoch of batch 128; "
        f"{flops / 1e9:.1f} GFLOP per step; {args.rounds} interleaved rounds of {args.steps} steps after "
        f"{args.warmup} warm-up steps each"
    )
    print(f"{'variant':38} {'step ms':>9} {'epoch s':>9} {'vs reference':>13} {'TFLOP/s':>8} {'of peak':>8}")
    for name, medians in rounds.items():
        step = statistics.median(medians)
        speedup = statistics.median(r / m for r, m in zip(rounds[REFERENCE], medians))
        rate = flops / step / 1e12
        print(
            f"{name:38} {step * 1e3:9.2f} {step * steps_per_epoch:9.1f} {speedup:12.2f}x "
            f"{rate:8.2f} {rate / args.peak_tflops:8.2%}"
        )
    print(
        "round medians, ms: "
        + "; ".join(f"{name}: " + ", ".join(f"{m * 1e3:.1f}" for m in medians) for name, medians in rounds.items())
    )


CPU_VARIANTS = {  # name -> (processes, OMP_NUM_THREADS per process or None for torch's default)
    "1 process, 2 threads": (1, None),
    "1 process, 1 thread": (1, "1"),
    "2 processes, 1 thread each": (2, "1"),
}


def quickstart_images_per_s(
    out: Path, steps: int, nproc: int = 1, threads: str | None = None, overrides: tuple[str, ...] = ()
) -> float:
    """Train the quickstart without evaluators for ``steps`` steps into ``out``; images/s from its meta.json."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    if threads:
        env["OMP_NUM_THREADS"] = threads
    sets = [
        a for o in ("evaluators=[]", f"train.max_steps={steps}", "train.log_every=20", *overrides) for a in ("--set", o)
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ganlab",
            "run",
            ROOT / "experiments" / "quickstart.toml",
            "--nproc",
            str(nproc),
            "--out",
            out,
            "--no-progress",
            *sets,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    [run_dir] = out.iterdir()
    return json.loads((run_dir / "meta.json").read_text())["images_per_s"]


def cpu_scaling(args) -> None:
    rates: dict[str, list[float]] = {name: [] for name in CPU_VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for name, (nproc, threads) in CPU_VARIANTS.items():
                out = Path(folder) / f"{nproc}-{threads}-{round_}"
                rates[name].append(quickstart_images_per_s(out, args.steps, nproc, threads))
    print(
        f"cpu cores: {os.cpu_count()}; DCGAN-32 quickstart, batch 64 (global), {args.steps} steps, "
        f"{args.rounds} interleaved rounds; images/s over the training time"
    )
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, values in rates.items():
        print(f"{name:28} {medians[name]:8.1f} images/s (runs: {', '.join(f'{r:.1f}' for r in values)})")
    two, one_thread = medians["2 processes, 1 thread each"], medians["1 process, 1 thread"]
    print(
        f"2 processes vs 1 process with both cores: {two / medians['1 process, 2 threads']:.2f}x; "
        f"scaling efficiency vs 1 process on 1 core: {two / (2 * one_thread):.0%}"
    )


PRECISIONS = ("fp32", "bf16", "fp16")


def cpu_precision(args) -> None:
    rates: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for precision in PRECISIONS:
                out = Path(folder) / f"{precision}-{round_}"
                overrides = ('experiment.device="cpu"', f'train.precision="{precision}"')
                rates[precision].append(quickstart_images_per_s(out, args.steps, overrides=overrides))
    cpu = this_cpu()
    native = {p: "unknown" if cpu is None else ("native" if cpu.native(p) else "emulated") for p in PRECISIONS[1:]}
    print(
        f"cpu: {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores; bf16 {native['bf16']}, "
        f"fp16 {native['fp16']}; DCGAN-32 quickstart without evaluators, batch 64, {args.steps} steps, "
        f"{args.rounds} interleaved rounds; images/s over the training time"
    )
    fp32 = statistics.median(rates["fp32"])
    for precision, values in rates.items():
        median = statistics.median(values)
        print(
            f"{precision:5} {median:8.1f} images/s  {median / fp32:5.2f}x fp32  "
            f"(runs: {', '.join(f'{r:.1f}' for r in values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    gpu = sub.add_parser("gpu-epoch")
    gpu.add_argument("--device", default="cuda")
    gpu.add_argument("--images", type=int, default=CELEBA_IMAGES)
    gpu.add_argument("--steps", type=int, default=100, help="timed steps per variant and round")
    gpu.add_argument("--rounds", type=int, default=3)
    gpu.add_argument("--warmup", type=int, default=20)
    gpu.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 matrix peak")
    cpu = sub.add_parser("cpu-scaling")
    cpu.add_argument("--rounds", type=int, default=3)
    cpu.add_argument("--steps", type=int, default=60)
    precision = sub.add_parser("cpu-precision")
    precision.add_argument("--rounds", type=int, default=3)
    precision.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    {"gpu-epoch": gpu_epoch, "cpu-scaling": cpu_scaling, "cpu-precision": cpu_precision}[args.mode](args)


if __name__ == "__main__":
    main()
