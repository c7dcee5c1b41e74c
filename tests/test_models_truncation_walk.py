"""``ganlab generate --truncation`` and ``--walk``, and ``ganlab evaluate --truncation``: truncated latents
recorded in what is written, the quality/diversity trade-off scored per psi, latent walks as a looping GIF
or MP4 with conditional rows held fixed, and every bad request refused."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image, ImageSequence

import ganlab
from ganlab.cli.main import main
from ganlab.common import tomlwrite
from ganlab.testing import TINY_RECIPE, merge
from ganlab.training.sampling import truncated

TINY = merge(TINY_RECIPE, {"generator": {"features": 8}, "discriminator": {"features": 8}, "train": {"epochs": 1}})
CONDITIONAL = merge(
    TINY,
    {
        "data": {"attributes": ["glasses", "smile"]},
        "generator": {"name": "cdcgan", "latent_dim": 8, "features": 8, "embed_dim": 4},
        "discriminator": {"name": "cdcgan-projection", "features": 8},
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
    return trained_run(tmp_path_factory.mktemp("walks"), TINY)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("conditional-walks"), CONDITIONAL)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")).astype(int) for frame in ImageSequence.Iterator(image)]


def test_truncation_resamples_every_entry_outside_psi_and_keeps_the_others():
    z = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
    cut = truncated(z, 0.5, torch.Generator().manual_seed(1))
    assert cut.abs().max() <= 0.5
    inside = z.abs() <= 0.5
    assert torch.equal(cut[inside], z[inside]) and not torch.equal(cut, z)
    # the normal truncated to [-0.5, 0.5]: mean |z| is 0.2474 (close to a uniform's 0.25)
    expected = (1 - math.exp(-0.125)) * math.sqrt(2 / math.pi) / math.erf(0.5 / math.sqrt(2))
    assert cut.abs().mean().item() == pytest.approx(expected, abs=0.005)


def test_the_truncation_is_recorded_in_the_files_generate_writes(trained, tmp_path):
    assert cli("generate", trained, "--num", 4, "--truncation", 0.5, "-o", tmp_path / "t.png").exit_code == 0
    assert cli("generate", trained, "--num", 4, "-o", tmp_path / "u.png").exit_code == 0
    assert cli("generate", trained, "--num", 2, "--truncation", 0.7, "--out-dir", tmp_path / "each").exit_code == 0
    with Image.open(tmp_path / "t.png") as grid:
        assert grid.text["ganlab:truncation"] == "0.5" and grid.text["ganlab:seed"] == "0"
    with Image.open(tmp_path / "u.png") as grid:
        assert grid.text["ganlab:truncation"] == "none"
    with Image.open(tmp_path / "each" / "image_0001.png") as image:
        assert image.text["ganlab:truncation"] == "0.7"


def test_a_psi_far_out_changes_nothing_and_a_small_one_changes_the_faces(trained, tmp_path):
    for name, options in (("plain", ()), ("wide", ("--truncation", 50)), ("tight", ("--truncation", 0.3))):
        assert cli("generate", trained, "--num", 8, "-o", tmp_path / f"{name}.png", *options).exit_code == 0
    assert np.array_equal(pixels(tmp_path / "plain.png"), pixels(tmp_path / "wide.png"))
    assert not np.array_equal(pixels(tmp_path / "plain.png"), pixels(tmp_path / "tight.png"))


def test_the_python_api_truncates_as_the_command_does(trained, tmp_path):
    assert cli("generate", trained, "--num", 3, "--truncation", 0.6, "--out-dir", tmp_path).exit_code == 0
    images = ganlab.load_run(trained).generate(num=3, truncation=0.6)
    for i, image in enumerate(images):
        assert np.array_equal(np.asarray(image).astype(int), pixels(tmp_path / f"image_{i:04d}.png"))


@pytest.mark.parametrize("psi", [0, -1, True, "0.5", math.nan, math.inf])
def test_the_python_api_refuses_a_bad_psi(trained, psi):
    with pytest.raises(ganlab.GanlabError, match="truncation must be None or a finite number above 0") as error:
        ganlab.load_run(trained).generate(num=1, truncation=psi)
    assert error.value.exit_code == 2


@pytest.mark.parametrize("psi", ["0", "-0.5", "nan", "inf", "abc", ""])
def test_generate_and_evaluate_refuse_a_bad_psi(trained, tmp_path, psi):
    result = cli("generate", trained, "--truncation", psi, "-o", tmp_path / "x.png")
    assert result.exit_code == 2 and "Invalid value for '--truncation'" in result.output
    assert "a truncation psi must be a finite number above 0" in result.output
    result = cli("evaluate", trained, "--metric", "diversity", "--truncation", f"0.5,{psi}")
    assert result.exit_code == 2 and "a truncation psi must be a finite number above 0" in result.output


def test_evaluate_scores_each_psi_and_records_it_in_the_protocol(trained):
    result = cli("evaluate", trained, "--metric", "diversity", "--truncation", "0.2,2")
    assert result.exit_code == 0, result.output
    assert "truncation 0.2  diversity = " in result.output and "truncation 2  diversity = " in result.output
    records = [json.loads(line) for line in (trained / "evaluations.jsonl").read_text().splitlines()]
    diversity = {r["truncation"]: r["value"] for r in records if r["metric"] == "diversity" and "truncation" in r}
    assert set(diversity) == {0.2, 2.0}
    assert diversity[0.2] > diversity[2.0]  # mean MS-SSIM of pairs: truncated faces are more alike
    summary = ganlab.load_run(trained).summary()  # a truncated score is its own series, never the run's
    assert summary["diversity (truncation 0.2)"] == diversity[0.2] and "diversity" not in summary
    assert cli("report", trained).exit_code == 0
    assert "diversity (truncation 2)" in (trained / "report.html").read_text()


def test_a_walk_is_a_looping_gif_that_closes_smoothly(trained, tmp_path):
    result = cli("generate", trained, "--walk", 4, "--frames", 6, "--fps", 10, "-o", tmp_path / "walk.gif")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.format == "GIF" and gif.is_animated and gif.n_frames == 24
        assert gif.info["loop"] == 0 and gif.info["duration"] == 100
        assert json.loads(gif.info["comment"])["ganlab:walk"] == "4"
    frames = gif_frames(tmp_path / "walk.gif")
    assert frames[0].shape == (16, 16, 3)  # one image a frame
    steps = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    closing = np.abs(frames[-1] - frames[0]).mean()
    assert closing <= 1.5 * max(steps)  # the last frame is one step from the first: no jump
    assert np.abs(frames[12] - frames[0]).mean() > 2 * closing  # and the walk goes somewhere


def test_the_walk_gif_opens_in_a_browser(trained, chromium_path, tmp_path):
    from headless_chromium import Chromium

    assert cli("generate", trained, "--walk", 3, "--frames", 4, "-o", tmp_path / "walk.gif").exit_code == 0
    (tmp_path / "page.html").write_text('<!doctype html><img src="walk.gif" width="160">')
    with Chromium(chromium_path, tmp_path / "profile") as browser:
        browser.load(tmp_path / "page.html")
        (image,) = browser.images()
    assert image["naturalWidth"] == 16 and image["naturalHeight"] == 16, image


def test_a_walk_through_its_first_seed_shows_the_seeds_first_image(trained, tmp_path):
    assert cli("generate", trained, "--walk", 3, "--frames", 2, "--seed", 5, "-o", tmp_path / "w.gif").exit_code == 0
    assert cli("generate", trained, "--num", 1, "--seed", 5, "-o", tmp_path / "first.png").exit_code == 0
    difference = np.abs(gif_frames(tmp_path / "w.gif")[0] - pixels(tmp_path / "first.png"))
    assert difference.mean() < 3  # the same image, through the GIF's 256-colour palette


def test_a_conditional_walk_holds_each_rows_condition_fixed(conditional, tmp_path):
    both = ("--condition", "glasses=1,smile=0", "--condition", "glasses=0,smile=1")
    assert cli("generate", conditional, "--walk", 2, "--frames", 3, *both, "-o", tmp_path / "rows.gif").exit_code == 0
    one = ("--condition", "glasses=0,smile=1")
    assert cli("generate", conditional, "--walk", 2, "--frames", 3, *one, "-o", tmp_path / "one.gif").exit_code == 0
    rows, single = gif_frames(tmp_path / "rows.gif"), gif_frames(tmp_path / "one.gif")
    assert len(rows) == 6 and rows[0].shape == (38, 20, 3)  # two images one above the other
    for frame, alone in zip(rows, single):
        assert np.abs(frame[20:36, 2:18] - alone).mean() < 3  # the second row is that condition's walk


def test_a_walk_as_mp4(trained, tmp_path):
    import imageio.v3 as iio

    result = cli("generate", trained, "--walk", 2, "--frames", 3, "-o", tmp_path / "walk.mp4")
    assert result.exit_code == 0, result.output
    video = iio.imread(tmp_path / "walk.mp4", plugin="FFMPEG")
    assert video.shape == (6, 16, 16, 3)


def test_mp4_without_the_video_extra_says_what_to_install(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    result = cli("generate", trained, "--walk", 2, "--format", "mp4", "-o", tmp_path / "walk.mp4")
    assert result.exit_code == 1
    assert "--format mp4 needs the package 'imageio_ffmpeg', which is not installed: pip install 'ganlab[video]'" in (
        result.output
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--walk", 1, "-o", "w.gif"), "'--walk': 1 is not in the range x>=2"),
        (("--walk", 3, "--out-dir", "frames"), "--walk writes one animation"),
        (("--walk", 3, "--interpolate", "-o", "w.gif"), "--walk writes one animation"),
        (("--format", "gif", "-o", "w.gif"), "--format is the format of a --walk's animation"),
        (("--walk", 3, "--frames", 0, "-o", "w.gif"), "'--frames': 0 is not in the range 1<=x<=10000"),
        (("--walk", 3, "-o", "w.png"), "w.png': a --walk writes an animation; end -o with .gif or .mp4"),
        (("--walk", 3, "-o", "w"), "w': a --walk writes an animation; end -o with .gif or .mp4"),
        (("--walk", 3, "--format", "gif", "-o", "w.png"), "w.png' does not end with .gif, the --format of the walk"),
        (("--walk", 3, "--format", "mp4", "-o", "w.gif"), "w.gif' does not end with .mp4, the --format of the walk"),
    ],
)
def test_a_bad_walk_request_is_refused(trained, tmp_path, options, said):
    result = cli(
        "generate", trained, *[tmp_path / o if str(o).startswith(("w.", "frames")) or o == "w" else o for o in options]
    )
    assert result.exit_code == 2 and said in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("w")]


def test_a_walk_too_large_for_memory_is_refused_naming_the_walk(trained, tmp_path):
    result = cli("generate", trained, "--walk", 10**9, "-o", tmp_path / "w.gif")
    assert result.exit_code == 1 and "--walk 1000000000 --frames 24: an interpolation of" in result.output
    assert "--num" not in result.output and not (tmp_path / "w.gif").exists()
