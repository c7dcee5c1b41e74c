"""``ganlab score A B`` and ``ganlab metrics``: standard scores of folders (or a run's generator against a
folder) with the evaluators' network, cache and formulas, equal to torch-fidelity's own on the same images."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from PIL import Image

from conftest import TINY_RECIPE, count_calls
from ganlab.metrics.weights import ENV_VAR, SHIPPED_DIGEST, find_weights

N = 10


def write_faces(folder: Path, count: int, seed: int, size: int = 32, brightness: int = 0) -> Path:
    """``count`` PNG images of smooth random blobs (varied enough that Inception features differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        low = rng.random((4, 4, 3)) * 200 + brightness
        image = Image.fromarray(np.clip(low, 0, 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
        image.save(folder / f"face_{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("score")
    return write_faces(root / "a", N, seed=1), write_faces(root / "b", N, seed=2, brightness=40)


def score_json(run_cli, *args) -> dict:
    result = run_cli("score", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_fid_and_kid_equal_torch_fidelitys_own_on_the_same_folders_and_network(folders, run_cli):
    a, b = folders
    ours = score_json(run_cli, a, b, "--metric", "fid", "--metric", "kid")
    theirs = torch_fidelity.calculate_metrics(
        input1=str(a),
        input2=str(b),
        fid=True,
        kid=True,
        kid_subset_size=N,
        cuda=False,
        verbose=False,
        feature_extractor_weights_path=str(find_weights().path),
        rng_seed=0,
    )
    assert ours["fid"] > 1  # two different sets: a real distance
    assert abs(ours["fid"] - theirs["frechet_inception_distance"]) < 1e-4
    assert abs(ours["kid"] - theirs["kernel_inception_distance_mean"]) < 1e-4


def test_a_folder_against_itself_scores_zero(folders, run_cli):
    a, _ = folders
    assert abs(score_json(run_cli, a, a)["fid"]) < 1e-3


def test_the_reference_folder_is_featurised_once_and_then_read_from_the_cache(folders, run_cli, monkeypatch):
    a, b = folders
    score_json(run_cli, a, b)
    calls = count_calls(monkeypatch)
    again = score_json(run_cli, a, b)
    assert calls == [] and again["fid"] > 1


def test_the_human_output_names_the_network_and_the_counts(folders, run_cli):
    result = run_cli("score", *folders)
    assert result.exit_code == 0, result.output
    assert "fid = " in result.output and SHIPPED_DIGEST[:16] in result.output
    assert f"{N} vs {N} images" in result.output


def test_a_run_directory_is_scored_through_its_generator(train_recipe, write_recipe, folders, run_cli, weights_in_env):
    run = train_recipe(write_recipe(TINY_RECIPE))
    result = run_cli(
        "score", run.path, folders[1], "--num", "8", "--metric", "fid", "--metric", "precision-recall", "--json"
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output.strip().splitlines()[-1])
    assert set(scores) == {"fid", "precision", "recall"} and scores["fid"] > 0


def test_images_of_different_sizes_are_refused_unless_size_is_given(tmp_path, folders, run_cli):
    mixed = write_faces(tmp_path / "mixed", 3, seed=3)
    write_faces(tmp_path / "mixed" / "big", 1, seed=4, size=48)
    result = run_cli("score", mixed, folders[1])
    assert result.exit_code == 3
    assert "48x48" in result.output and "32x32" in result.output and "--size" in result.output
    assert score_json(run_cli, mixed, folders[1], "--size", "32")["fid"] > 0


@pytest.mark.parametrize("argument", ["A", "B"])
def test_a_missing_folder_is_named_with_the_argument(tmp_path, folders, run_cli, argument):
    a, b = (tmp_path / "nowhere", folders[1]) if argument == "A" else (folders[0], tmp_path / "nowhere")
    result = run_cli("score", a, b)
    assert result.exit_code == 3 and f"{argument}: " in result.output and "nowhere" in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_image_is_named(tmp_path, folders, run_cli):
    broken = write_faces(tmp_path / "broken", 2, seed=5)
    (broken / "face_001.png").write_bytes(b"not a png")
    result = run_cli("score", broken, folders[1])
    assert result.exit_code == 3 and "face_001.png" in result.output and "not a readable image" in result.output


def test_an_unknown_metric_lists_the_known_ones(folders, run_cli):
    result = run_cli("score", *folders, "--metric", "fud")
    assert result.exit_code == 2 and "'fud'" in result.output and "fid, kid, precision-recall" in result.output


def test_feature_metrics_need_a_reference_folder(folders, run_cli):
    result = run_cli("score", folders[0])
    assert result.exit_code != 0 and "B:" in result.output


def test_inception_score_on_the_shipped_network_says_why_it_is_not_offered(folders, run_cli):
    result = run_cli("score", folders[0], "--metric", "isc")
    assert result.exit_code == 2
    assert "classifier layer" in result.output and "weights-inception-2015-12-05-6726825d.pth" in result.output


def test_inception_score_is_computed_where_the_network_has_logits(folders, run_cli, weights_in_env):
    scores = score_json(run_cli, folders[0], "--metric", "isc")
    assert set(scores) == {"isc", "isc_std"} and scores["isc"] >= 1.0


def test_metrics_lists_the_shipped_network_as_used_with_its_digest(run_cli):
    result = run_cli("metrics", "--json")
    assert result.exit_code == 0, result.output
    networks = json.loads(result.output)
    used = [n for n in networks if n["used"]]
    assert len(used) == 1 and used[0]["sha256"] == SHIPPED_DIGEST and not used[0]["has_logits"]
    assert [n["usable"] for n in networks] == [False, False, True]


def test_metrics_puts_the_environments_file_first_and_reports_a_refused_one(
    tmp_path, monkeypatch, run_cli, inception_weights
):
    monkeypatch.setenv(ENV_VAR, str(inception_weights))
    networks = json.loads(run_cli("metrics", "--json").output)
    assert networks[0]["used"] and networks[0]["has_logits"] and not networks[2]["used"]
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"w": torch.ones(1)}}, bad)
    monkeypatch.setenv(ENV_VAR, str(bad))
    result = run_cli("metrics")
    assert "refused" in result.output and "is not a state dict" in result.output
