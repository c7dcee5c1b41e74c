"""``ganlab export``: a run's generator as TorchScript, ONNX or safetensors that makes ganlab's images
without ganlab, with a model card beside it, and every export it refuses."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image
from torch import nn

import ganlab
from ganlab.cli.main import main
from ganlab.common import tomlwrite
from ganlab.testing import TINY_RECIPE, merge

TINY = merge(
    TINY_RECIPE,
    {
        "generator": {"latent_dim": 8, "features": 8},
        "discriminator": {"features": 8},
        "train": {"epochs": 1, "ema": 0.9},
        "evaluators": [{"name": "swd", "num_samples": 64}],
    },
)
CONDITIONAL = merge(
    TINY_RECIPE,
    {
        "data": {"attributes": ["glasses", "smile"]},
        "generator": {"name": "cdcgan", "latent_dim": 8, "features": 8, "embed_dim": 4},
        "discriminator": {"name": "cdcgan-projection", "features": 8},
        "train": {"epochs": 1},
    },
)


def cli(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def trained_run(folder: Path, recipe: dict) -> Path:
    path = folder / "recipe.toml"
    path.write_text(tomlwrite.dumps(recipe))
    result = cli("run", path, "--out", folder / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny finished run with EMA weights and one swd score (16x16 synthetic faces)."""
    return trained_run(tmp_path_factory.mktemp("export"), TINY)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("conditional-export"), CONDITIONAL)


def documented_latents(seed: int, num: int, latent_dim: int) -> torch.Tensor:
    """The latents of ``ganlab generate --seed SEED --num NUM`` (NUM <= 256) as docs/models.md gives them."""
    return torch.randn(256, latent_dim, generator=torch.Generator().manual_seed(seed))[:num]


def ganlab_images(run: Path, folder: Path, *options) -> np.ndarray:
    """``ganlab generate --seed 0 --num 8 --out-dir`` as uint8 (N, H, W, C)."""
    result = cli("generate", run, "--seed", 0, "--num", 8, "--out-dir", folder, "--device", "cpu", *options)
    assert result.exit_code == 0, result.output
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("image_*.png"))])


def to_pixels(images: np.ndarray) -> np.ndarray:
    """The model card's rule: round((images + 1) * 127.5), clipped, as uint8 (N, H, W, C)."""
    return np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def export(run: Path, format: str, path: Path, *options) -> Result:
    return cli("export", run, "--format", format, "-o", path, *options)


def test_torchscript_makes_ganlabs_images_bit_for_bit(trained, tmp_path):
    result = export(trained, "torchscript", tmp_path / "g.pt")
    assert result.exit_code == 0, result.output
    assert "verified: TorchScript" in result.output and "bit for bit" in result.output
    generator = torch.jit.load(tmp_path / "g.pt")
    with torch.no_grad():
        made = generator(documented_latents(0, 8, 8))
        assert generator(torch.randn(3, 8)).shape == (3, 3, 16, 16)  # any batch size
    assert made.dtype == torch.float32 and made.min() >= -1 and made.max() <= 1
    assert np.array_equal(to_pixels(made.numpy()), ganlab_images(trained, tmp_path / "ganlab"))


ONNX_ALONE = """
import importlib.abc, sys

class NoGanlabNoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ganlab", "torch"):
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, NoGanlabNoTorch())
import numpy as np
import onnxruntime

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
print([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
np.save(sys.argv[3], session.run(["images"], {"z": np.load(sys.argv[2])})[0])
assert "torch" not in sys.modules and "ganlab" not in sys.modules
"""


def test_onnx_in_plain_onnxruntime_without_ganlab_or_torch_makes_ganlabs_images(trained, tmp_path):
    result = export(trained, "onnx", tmp_path / "g.onnx")
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "g.onnx.card.json").read_text())
    assert card["verification"]["max_abs_diff"] <= card["verification"]["tolerance"] == 1e-4
    np.save(tmp_path / "z.npy", documented_latents(0, 8, 8).numpy())
    script = tmp_path / "alone.py"
    script.write_text(ONNX_ALONE)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, script, tmp_path / "g.onnx", tmp_path / "z.npy", tmp_path / "out.npy"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['z'] ['images']"
    made = np.load(tmp_path / "out.npy")
    expected = ganlab_images(trained, tmp_path / "ganlab").astype(int)
    assert np.abs(to_pixels(made).astype(int) - expected).max() <= 1  # floats within 1e-4: rounding may differ by 1
    assert np.abs(made - (expected.transpose(0, 3, 1, 2) / 127.5 - 1)).max() <= 0.5 / 127.5 + 1e-4


def test_safetensors_load_back_into_the_recipes_generator(trained, tmp_path):
    from safetensors.torch import load_file

    result = export(trained, "safetensors", tmp_path / "g.safetensors")
    assert result.exit_code == 0, result.output
    assert "bit for bit" in result.output
    generator = ganlab.DCGANGenerator(latent_dim=8, features=8, image_size=16, channels=3)
    generator.load_state_dict(load_file(tmp_path / "g.safetensors"))
    with torch.no_grad():
        made = generator.eval()(documented_latents(0, 8, 8))
    assert np.array_equal(to_pixels(made.numpy()), ganlab_images(trained, tmp_path / "ganlab"))


def test_an_exported_safetensors_file_imports_back_as_a_run_with_the_same_images(trained, tmp_path):
    assert export(trained, "safetensors", tmp_path / "g.safetensors").exit_code == 0
    result = cli("import", tmp_path / "g.safetensors", "--out", tmp_path / "runs")  # it carries its recipe
    assert result.exit_code == 0, result.output
    assert "the generator's own" in result.output  # the names were ganlab's: nothing renamed
    imported = Path(result.output.strip().splitlines()[-1])
    assert np.array_equal(ganlab_images(imported, tmp_path / "a"), ganlab_images(trained, tmp_path / "b"))


def test_the_model_card_says_what_the_file_is_and_how_to_use_it(trained, tmp_path):
    assert export(trained, "onnx", tmp_path / "g.onnx").exit_code == 0
    card = json.loads((tmp_path / "g.onnx.card.json").read_text())
    assert card["format"] == "onnx" and card["file"] == "g.onnx"
    assert card["checkpoint"] == "epoch_0001.pt" and card["step"] == 4 and card["epoch"] == 1
    assert card["recipe"]["generator"] == {"name": "dcgan", "latent_dim": 8, "features": 8}
    assert card["weights"] == "averaged weights (train.ema)"
    assert card["latent"] == {"size": 8, "distribution": "standard normal N(0, 1)"}
    assert card["label_space"] is None
    assert card["inputs"][0]["name"] == "z" and card["inputs"][0]["shape"] == ["batch", 8]
    assert card["output"]["shape"] == ["batch", 3, 16, 16] and card["output"]["range"] == [-1.0, 1.0]
    (swd,) = [s for s in card["scores"] if s["metric"] == "swd"]
    assert swd["step"] == 4 and swd["protocol"]["num_generated"] == 64
    assert 'onnxruntime.InferenceSession("g.onnx")' in card["usage"]
    markdown = (tmp_path / "g.onnx.card.md").read_text()
    assert "## How to sample" in markdown and "| swd | " in markdown and "## Verification" in markdown


@pytest.mark.parametrize("format", ["torchscript", "onnx", "safetensors"])
def test_the_model_cards_snippet_runs(trained, tmp_path, format):
    assert export(trained, format, tmp_path / f"g.{format}").exit_code == 0
    card = json.loads((tmp_path / f"g.{format}.card.json").read_text())
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(card["usage"], namespace)
    finally:
        os.chdir(cwd)
    assert tuple(namespace["pixels"].shape) == (16, 3, 16, 16) and str(namespace["pixels"].dtype).endswith("uint8")


def test_a_conditional_generator_takes_labels_as_its_second_input(conditional, tmp_path):
    import onnxruntime

    result = export(conditional, "onnx", tmp_path / "c.onnx")
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "c.onnx.card.json").read_text())
    assert [a["name"] for a in card["label_space"]["attributes"]] == ["glasses", "smile"]
    assert card["inputs"][1] == {
        "name": "labels",
        "dtype": "int64",
        "shape": ["batch", 2],
        "meaning": "per attribute of label_space, in its order, the index of the value in its values",
    }
    session = onnxruntime.InferenceSession(tmp_path / "c.onnx", providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "labels"]
    z = documented_latents(0, 8, 8).numpy()
    glasses_smiling = np.ones((8, 2), dtype=np.int64)  # value index 1 of each: glasses=1, smile=1
    made = session.run(["images"], {"z": z, "labels": glasses_smiling})[0]
    expected = ganlab_images(conditional, tmp_path / "ganlab", "--condition", "glasses=1,smile=1")
    assert np.abs(to_pixels(made).astype(int) - expected.astype(int)).max() <= 1


def test_a_conditional_export_to_safetensors_imports_back_with_its_labels(conditional, tmp_path):
    assert export(conditional, "safetensors", tmp_path / "c.safetensors").exit_code == 0
    run = ganlab.import_weights(tmp_path / "c.safetensors", out=tmp_path / "runs")
    assert (
        run.status == "imported"
        and run.meta["label_space"] == json.loads((tmp_path / "c.safetensors.card.json").read_text())["label_space"]
    )
    condition = ("--condition", "glasses=0,smile=1")
    assert np.array_equal(
        ganlab_images(run.path, tmp_path / "a", *condition), ganlab_images(conditional, tmp_path / "b", *condition)
    )


def test_the_python_api_exports_too(trained, tmp_path):
    exported = ganlab.load_run(trained).export(tmp_path / "g.pt", "torchscript", checkpoint=1)
    assert exported.path == tmp_path / "g.pt" and exported.verification.bit_for_bit
    assert exported.card_json.exists() and exported.card_markdown.exists()
    with pytest.raises(ganlab.GanlabError, match="format must be one of 'torchscript', 'onnx', 'safetensors'"):
        ganlab.load_run(trained).export(tmp_path / "g.x", "pickle")


class Gate(nn.Module):
    """Python control flow on a tensor's value: a trace would keep only the branch it saw."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images if images.mean() > -2 else -images


class Rescale(nn.Module):
    """A tensor turned into a Python number: the trace would keep the number it saw."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images / max(1.0, float(images.abs().max()))


class GatedGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_size: int, channels: int, gate: nn.Module):
        super().__init__()
        self.latent_dim = latent_dim
        self.body = ganlab.DCGANGenerator(latent_dim, 8, image_size, channels)
        self.gate = gate

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gate(self.body(z))


@dataclasses.dataclass
class GatedConfig:
    pass


class GatedPlugin:
    @ganlab.hookimpl
    def ganlab_register(self, registry):
        for name, gate in (("gated", Gate), ("rescaled", Rescale)):
            registry.add(
                "generator",
                name,
                lambda config, context, gate=gate: GatedGenerator(8, context.image_size, context.channels, gate()),
                GatedConfig,
                help="DCGAN with an untraceable last module",
            )


@pytest.mark.parametrize(("name", "module", "said"), [("gated", "Gate", "boolean"), ("rescaled", "Rescale", "float")])
def test_a_network_that_cannot_be_traced_is_refused_naming_its_module(register_plugin, tmp_path, name, module, said):
    register_plugin(GatedPlugin(), "gated")
    run = trained_run(tmp_path, merge(TINY, {"generator": {"name": name}}))
    for format in ("torchscript", "onnx"):
        result = export(run, format, tmp_path / f"g.{format}")
        assert result.exit_code == 4, result.output
        assert f"cannot export the {name!r} generator as {format}: it cannot be traced" in result.output
        assert f"module 'gate' ({module}) Converting a tensor to a Python {said}" in result.output
        assert not (tmp_path / f"g.{format}").exists() and not (tmp_path / f"g.{format}.card.json").exists()
    assert export(run, "safetensors", tmp_path / "g.safetensors").exit_code == 0  # weights need no trace


def test_an_existing_output_is_replaced_only_with_force(trained, tmp_path):
    (tmp_path / "g.pt").write_bytes(b"keep me")
    result = export(trained, "torchscript", tmp_path / "g.pt")
    assert result.exit_code == 5 and "already exists; pass --force" in result.output
    assert (tmp_path / "g.pt").read_bytes() == b"keep me"
    assert export(trained, "torchscript", tmp_path / "g.pt", "--force").exit_code == 0
    assert (tmp_path / "g.pt").read_bytes() != b"keep me"


def test_an_existing_model_card_is_not_overwritten_either(trained, tmp_path):
    (tmp_path / "g.pt.card.md").write_text("my notes")
    result = export(trained, "torchscript", tmp_path / "g.pt")
    assert result.exit_code == 5 and "g.pt.card.md' already exists" in result.output
    assert not (tmp_path / "g.pt").exists()


@pytest.mark.parametrize("case", ["folder", "parent is a file"])
def test_an_output_path_that_cannot_be_written_is_refused(trained, tmp_path, case):
    (tmp_path / "taken").mkdir() if case == "folder" else (tmp_path / "taken").write_text("x")
    target = tmp_path / "taken" if case == "folder" else tmp_path / "taken" / "g.pt"
    result = export(trained, "torchscript", target, "--force")
    assert result.exit_code == 5, result.output
    assert ("is a folder" if case == "folder" else "is a file, not a folder") in result.output


def test_a_run_without_checkpoints_or_an_unknown_checkpoint_is_refused(trained, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(trained, bare, ignore=shutil.ignore_patterns("*.pt", "manifest.json"))
    result = export(bare, "onnx", tmp_path / "g.onnx")
    assert result.exit_code == 6 and "has no valid checkpoint" in result.output
    result = export(trained, "onnx", tmp_path / "g.onnx", "--checkpoint", 7)
    assert result.exit_code == 6 and "no checkpoint '7'" in result.output and "epoch_0001.pt" in result.output


@pytest.mark.parametrize(("format", "package"), [("onnx", "onnxruntime"), ("safetensors", "safetensors")])
def test_a_missing_extra_says_which_pip_install_brings_it(trained, tmp_path, monkeypatch, format, package):
    monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.setitem(sys.modules, f"{package}.torch", None)
    result = export(trained, format, tmp_path / "g.out")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"ganlab: error: ganlab export --format {format} needs the package {package!r}, which is not installed: "
        "pip install 'ganlab[export]'"
    )
