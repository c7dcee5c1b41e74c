"""``ganlab generate``: grids, one file per image, interpolation strips, from any checkpoint of a run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from conftest import TINY_RECIPE
from ganlab.cli.main import main
from ganlab.common import tomlwrite
from ganlab.training.generate import slerp


def cli(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run with checkpoints epoch_0001.pt and epoch_0002.pt (16x16 RGB images)."""
    folder = tmp_path_factory.mktemp("trained")
    recipe = folder / "recipe.toml"
    recipe.write_text(tomlwrite.dumps(TINY_RECIPE))
    result = cli("run", recipe, "--out", folder / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def generate_from(trained: Path, tmp_path: Path, filename: str, write: Callable[[Path], object]) -> Result:
    """``ganlab generate --checkpoint FILENAME`` once ``write`` has put that file into the run's checkpoints;
    the module's shared run gets its own file back (or loses the added one) afterwards."""
    path = trained / "checkpoints" / filename
    original = path.read_bytes() if path.exists() else None
    try:
        write(path)
        return cli("generate", trained, "--checkpoint", filename, "-o", tmp_path / "x.png")
    finally:
        path.write_bytes(original) if original is not None else path.unlink()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_a_grid_of_sixteen_faces(trained, tmp_path):
    result = cli("generate", trained, "--num", 16, "-o", tmp_path / "faces.png", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "faces.png")
    assert pixels(tmp_path / "faces.png").shape == (4 * 18 + 2, 4 * 18 + 2, 3)  # 4x4 tiles, 2 px padding


def test_one_png_per_image_with_out_dir(trained, tmp_path):
    result = cli("generate", trained, "--num", 5, "--out-dir", tmp_path / "each", "--device", "cpu")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "each").iterdir())
    assert [f.name for f in files] == [f"image_{i:04d}.png" for i in range(5)]
    assert all(pixels(f).shape == (16, 16, 3) for f in files)
    assert len({pixels(f).tobytes() for f in files}) == 5


def test_the_same_seed_gives_the_same_images_and_another_seed_others(trained, tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert cli("generate", trained, "--num", 4, "--seed", seed, "--out-dir", tmp_path / name).exit_code == 0
    image = lambda name: pixels(tmp_path / name / "image_0000.png")  # noqa: E731
    assert np.array_equal(image("a"), image("b"))
    assert not np.array_equal(image("a"), image("c"))


def test_an_older_checkpoint_can_be_chosen_by_epoch_number(trained, tmp_path):
    for name, checkpoint in (("first", "1"), ("newest", "epoch_0002.pt")):
        result = cli("generate", trained, "--checkpoint", checkpoint, "--num", 4, "--out-dir", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert not np.array_equal(
        pixels(tmp_path / "first" / "image_0000.png"), pixels(tmp_path / "newest" / "image_0000.png")
    )


def test_an_interpolation_strip_is_one_row_of_num_frames(trained, tmp_path):
    result = cli(
        "generate", trained, "--interpolate", "--seed", 1, "--to-seed", 2, "--num", 6, "-o", tmp_path / "strip.png"
    )
    assert result.exit_code == 0, result.output
    strip = pixels(tmp_path / "strip.png")
    assert strip.shape == (18 + 2, 6 * 18 + 2, 3)
    frames = [strip[2:18, 2 + 18 * i : 18 + 18 * i] for i in range(6)]
    assert not np.array_equal(frames[0], frames[-1])


def test_slerp_starts_and_ends_at_the_two_latents_and_keeps_their_length():
    a, b = (
        torch.randn(64, generator=torch.Generator().manual_seed(0)),
        torch.randn(64, generator=torch.Generator().manual_seed(1)),
    )
    path = slerp(a, b, 5)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), torch.full((5,), (a.norm() + b.norm()).item() / 2), rtol=0.1)


def test_grid_or_folder_must_be_chosen(trained):
    result = cli("generate", trained, "--num", 4)
    assert result.exit_code == 2
    assert "give exactly one of -o FILE.png" in result.output


def test_a_checkpoint_that_would_run_code_is_refused(trained, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    result = generate_from(trained, tmp_path, "evil.pt", lambda path: torch.save({"generator": Payload()}, path))
    assert result.exit_code == 6
    assert "holds objects other than tensors and plain values; ganlab refuses to unpickle it" in result.output
    assert not marker.exists()


def test_a_run_without_checkpoints_cannot_generate(trained, tmp_path):
    empty = tmp_path / "run"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "meta.json").write_text((trained / "meta.json").read_text())
    result = cli("generate", empty, "-o", tmp_path / "x.png")
    assert result.exit_code == 6
    assert "has no valid checkpoint yet" in result.output


@pytest.mark.parametrize("content", ["a bare tensor", "a list"])
def test_a_file_that_is_not_a_training_checkpoint_is_a_clear_error(trained, tmp_path, content):
    state = torch.zeros(3) if content == "a bare tensor" else [torch.zeros(3)]
    result = generate_from(trained, tmp_path, "other.pt", lambda path: torch.save(state, path))
    assert result.exit_code == 6
    assert "is not a ganlab training checkpoint" in result.output


def test_generator_weights_that_do_not_fit_the_installed_generator_are_a_clear_error(trained, tmp_path):
    state = torch.load(trained / "checkpoints" / "epoch_0001.pt", weights_only=True)
    for key in ("generator", "ema"):
        if key in state:
            state[key] = {name: value[..., :1] if value.ndim else value for name, value in state[key].items()}
    result = generate_from(trained, tmp_path, "changed.pt", lambda path: torch.save(state, path))
    assert result.exit_code == 6
    assert "changed.pt': its 'generator' does not fit the 'dcgan' generator installed here" in result.output
    assert "net.1.running_mean is [1] in the checkpoint, [8] here" in result.output


def test_a_named_checkpoint_that_fails_its_manifest_check_is_refused(trained, tmp_path):
    original = (trained / "checkpoints" / "epoch_0001.pt").read_bytes()
    result = generate_from(trained, tmp_path, "epoch_0001.pt", lambda path: path.write_bytes(original[:2000]))
    assert result.exit_code == 6
    assert (
        f"checkpoint epoch_0001.pt is truncated or damaged (2000 bytes, the manifest says {len(original)})"
        in result.output
    )
    assert not (tmp_path / "x.png").exists()
