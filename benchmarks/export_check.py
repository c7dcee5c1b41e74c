"""How closely and how fast each export format makes ganlab's images: a pytorch/examples-style netG.pth
(its layer names, ``main.N``) is imported with a DCGAN recipe, then exported as TorchScript, ONNX and
safetensors; for each, the largest difference from ganlab's own output on the check's latents, the largest
pixel difference, and the seconds the import and each export take (in this process, after loading).
The weights are the DCGAN initialisation (N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales), seeded.
Usage:

    PYTHONPATH=. python benchmarks/export_check.py [--latent 100] [--features 64] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ganlab.components.dcgan import DCGANGenerator
from ganlab.components.inits import NormalConfig, build_dcgan_normal
from ganlab.loading.manager import load_plugins
from ganlab.models.export import FORMATS, export_run
from ganlab.models.importing import import_weights
from ganlab.recipes.recipe import load_recipe

RECIPE = Path(__file__).parent.parent / "experiments" / "dcgan_celeba.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=100, help="pytorch/examples' --nz")
    parser.add_argument("--features", type=int, default=64, help="pytorch/examples' --ngf")
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = DCGANGenerator(args.latent, args.features, args.image_size, 3)
    build_dcgan_normal(NormalConfig(), None)(generator)
    plugins = load_plugins(entry_points=False)
    overrides = [
        f"generator.latent_dim={args.latent}",
        f"generator.features={args.features}",
        f"data.image_size={args.image_size}",
    ]
    recipe = load_recipe(RECIPE, plugins.registry, overrides)
    results: dict[str, dict[str, float | bool]] = {}
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "netG.pth"
        torch.save({key.replace("net.", "main.", 1): v for key, v in generator.state_dict().items()}, weights)
        start = time.perf_counter()
        run = import_weights(weights, recipe, plugins, Path(folder) / "runs")
        imported = time.perf_counter() - start
        names = run.read_meta()["imported"]["names"]
        print(f"import of {weights.stat().st_size / 2**20:.1f} MiB: {imported:.2f} s (parameter names: {names})")
        for format in FORMATS:
            start = time.perf_counter()
            exported = export_run(run, plugins, format, Path(folder) / f"g.{format}")
            seconds = time.perf_counter() - start
            check = exported.verification
            print(f"{format}: {check.sentence()}; {seconds:.2f} s")
            results[format] = {
                "max_abs_diff": check.max_abs_diff,
                "max_pixel_diff": check.max_pixel_diff,
                "bit_for_bit": check.bit_for_bit,
                "seconds": round(seconds, 3),
            }
    print(json.dumps({"import_s": round(imported, 3), **results}, indent=2))


if __name__ == "__main__":
    main()
