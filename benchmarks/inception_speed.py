"""How fast ganlab's Inception pass is, against torch-fidelity's own and against the machine's limit.

Three measurements, each as the median of ``--rounds`` rounds, the two pipelines interleaved round by
round so that both see the same machine:

1. **The network pass** on in-memory uint8 batches of ``--batch`` images at each ``--sizes`` input side:
   torch-fidelity's extractor exactly as its ``fidelity`` command builds it, and ganlab's
   (:class:`ganlab.metrics.inception.InceptionFeatures`: the same network with batch norm folded into the
   convolutions, channels-last), both with the shipped FID network. Images/s and the ratio.
2. **The machine's limit:** the network's multiply-adds per image (counted from its convolutions at
   299x299) times ganlab's images/s, as a share of the fp32 matmul rate this machine sustains.
3. **End to end on folders** (``--folder-images`` PNGs per side, 0 to skip): ``fidelity --fid --input1 A
   --input2 B`` against ``ganlab score A B``, wall time each, caches cold.

    PYTHONPATH=. python benchmarks/inception_speed.py --rounds 5 --sizes 32 64 --folder-images 256
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch_fidelity.utils import create_feature_extractor

from ganlab.metrics.inception import InceptionFeatures
from ganlab.metrics.weights import find_weights

ROOT = Path(__file__).resolve().parents[1]


def multiply_adds_per_image(network: nn.Module) -> int:
    """Multiply-adds of every convolution and linear layer for one 299x299 image, counted by running one."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.numel() * kernel

    handles = [m.register_forward_hook(count) for m in network.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        network(torch.zeros(1, 3, 299, 299, dtype=torch.uint8))
    for handle in handles:
        handle.remove()
    return total


def matmul_gflops(rounds: int, side: int = 2048) -> float:
    a = torch.randn(side, side)
    a @ a
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(5):
            a @ a
        rates.append(5 * 2 * side**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def network_pass(size: int, batch: int, rounds: int) -> dict[str, float]:
    weights = find_weights()
    theirs = create_feature_extractor(
        "inception-v3-compat", ["2048"], cuda=False, verbose=False, feature_extractor_weights_path=str(weights.path)
    )
    ours = InceptionFeatures(weights, torch.device("cpu"))
    images = torch.randint(
        0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    rates: dict[str, list[float]] = {"torch-fidelity": [], "ganlab": []}
    with torch.inference_mode():
        theirs(images[:2]), ours(images[:2], batch)  # warm up both
        for _ in range(rounds):
            start = time.perf_counter()
            theirs(images)
            rates["torch-fidelity"].append(batch / (time.perf_counter() - start))
            start = time.perf_counter()
            ours(images, batch)
            rates["ganlab"].append(batch / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def write_folder(folder: Path, count: int, size: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        low = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC).save(folder / f"{i:05d}.png")
    return folder


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def end_to_end(count: int, size: int, rounds: int) -> dict[str, float]:
    weights = find_weights()
    bin_dir = Path(sys.executable).parent
    times: dict[str, list[float]] = {"fidelity": [], "ganlab score": []}
    with tempfile.TemporaryDirectory() as tmp:
        a, b = write_folder(Path(tmp) / "a", count, size, 1), write_folder(Path(tmp) / "b", count, size, 2)
        for round_ in range(rounds):
            env = {**os.environ, "GANLAB_CACHE_DIR": str(Path(tmp) / f"cache-{round_}"), "PYTHONPATH": str(ROOT)}
            times["fidelity"].append(
                timed(
                    [
                        str(bin_dir / "fidelity"),
                        "--gpu",
                        "",
                        "--fid",
                        "--silent",
                        "--input1",
                        str(a),
                        "--input2",
                        str(b),
                        "--feature-extractor-weights-path",
                        str(weights.path),
                    ],
                    env,
                )
            )
            times["ganlab score"].append(
                timed(
                    [sys.executable, "-m", "ganlab", "score", str(a), str(b), "--json", "--weights", str(weights.path)],
                    env,
                )
            )
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--folder-images", type=int, default=256)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    gflops = matmul_gflops(args.rounds)
    network = InceptionFeatures(find_weights(), torch.device("cpu")).extractor
    per_image = 2 * multiply_adds_per_image(network) / 1e9
    print(f"fp32 matmul: {gflops:.0f} GFLOP/s; Inception at 299x299: {per_image:.2f} GFLOP per image\n")
    print("| input | torch-fidelity img/s | ganlab img/s | ratio | ganlab GFLOP/s | share of matmul rate |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        rates = network_pass(size, args.batch, args.rounds)
        achieved = rates["ganlab"] * per_image
        print(
            f"| {size}px | {rates['torch-fidelity']:.2f} | {rates['ganlab']:.2f} | "
            f"{rates['ganlab'] / rates['torch-fidelity']:.2f}x | {achieved:.0f} | {achieved / gflops:.0%} |"
        )
    if args.folder_images:
        times = end_to_end(args.folder_images, 64, max(1, args.rounds // 2))
        print(
            f"\nend to end, {args.folder_images} + {args.folder_images} PNGs at 64px, cold caches: "
            f"fidelity {times['fidelity']:.1f} s, ganlab score {times['ganlab score']:.1f} s "
            f"({times['fidelity'] / times['ganlab score']:.2f}x)"
        )


if __name__ == "__main__":
    main()
