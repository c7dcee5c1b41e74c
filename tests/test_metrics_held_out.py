"""A run trained on a subset of its images is scored against the images held out from training by default
(``reference = "auto"``): a generator that copies its training images scores best against those very
images. ``"data"`` still scores against the training subset, and a run on all of its data is scored as
before, under the same reference fingerprint."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from data_layouts import jpeg_bytes, write_folder

from ganlab.contracts.engine import BuildContext
from ganlab.data import folder
from ganlab.metrics.reference import ReferenceSample
from ganlab.recipes.recipe import load_recipe
from ganlab.training.assemble import build

SOURCE_IMAGES = 40
TRAINED_ON = 16


def image_folder_data(root: Path, **settings) -> dict:
    return {"name": "image-folder", "root": str(root), "image_size": 16, "crop": 40, "workers": 1, **settings}


@pytest.fixture
def faces_root(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "faces", {f"{i:03d}.jpg": data for i, data in enumerate(jpeg_bytes(SOURCE_IMAGES))})


def the_data_set(root: Path) -> folder.CachedImages:
    """The run's data set, built as the run builds it (same settings, same cache)."""
    config = folder.ImageFolderConfig(
        **{k: v for k, v in image_folder_data(root).items() if k != "name"}, num_images=TRAINED_ON
    )
    return folder.build(config, BuildContext(seed=0, device=torch.device("cpu")))


def latest(run_dir, metric: str, **match) -> dict:
    return [
        r for r in run_dir.read_evaluations() if r["metric"] == metric and all(r.get(k) == v for k, v in match.items())
    ][-1]


def test_a_subset_run_is_scored_against_the_held_out_images_unless_asked_for_its_training_data(
    faces_root, write_recipe, train_recipe, run_cli
):
    evaluators = [
        {"name": "swd", "num_samples": 64},  # more than either part holds
        {"name": "diversity", "num_pairs": 30, "reference": "data"},
    ]
    run = train_recipe(
        write_recipe({"data": image_folder_data(faces_root, num_images=TRAINED_ON), "evaluators": evaluators})
    )
    dataset = the_data_set(faces_root)
    held_out = dataset.held_out()
    swd = latest(run, "swd")
    assert swd["reference_source"] == f"held-out of {faces_root} (24 of 24 images, 16px)"
    assert swd["num_reference"] == len(held_out) == SOURCE_IMAGES - TRAINED_ON
    assert swd["reference"] == ReferenceSample(held_out, len(held_out), 0).fingerprint()
    diversity = latest(run, "diversity")
    assert diversity["reference_source"].startswith(f"training subset of {faces_root} (")
    assert diversity["reference"] == ReferenceSample(dataset, TRAINED_ON, 0).fingerprint()

    # ganlab evaluate rebuilds the evaluators from the run's recipe and scores against the same images
    assert run_cli("evaluate", run.path).exit_code == 0
    rescored = latest(run, "swd", checkpoint=latest(run, "swd")["checkpoint"])
    assert rescored["reference"] == swd["reference"]
    # ganlab report rebuilds the evaluators without data
    assert run_cli("report", run.path).exit_code == 0


def test_the_inception_evaluators_take_the_held_out_images_and_memorisation_keeps_the_training_data(
    weights_in_env, faces_root, write_recipe, plugins
):
    settings = {"num_samples": 2, "num_reference": 2}
    recipe = load_recipe(
        write_recipe(
            {
                "data": image_folder_data(faces_root, num_images=TRAINED_ON),
                "evaluators": [
                    {"name": "fid", **settings},
                    {"name": "density-coverage", **settings, "nearest_k": 1},
                    {"name": "memorisation", **settings},
                ],
            }
        ),
        plugins.registry,
    )
    built = build(recipe)
    run = SimpleNamespace(dataset=built.dataset)  # all that choosing the reference sample reads
    fid, density, memorisation = (evaluator.protocol(evaluator.sample(run)) for _, evaluator in built.evaluators)
    held_out = ReferenceSample(built.dataset.held_out(), 2, 0)
    assert fid["reference_source"] == density["reference_source"] == f"held-out of {faces_root} (2 of 24 images, 16px)"
    assert fid["reference"] == density["reference"] == held_out.fingerprint()
    assert memorisation["reference_source"] == f"training subset of {faces_root} (2 of 16 images, 16px)"


def test_held_out_on_a_data_set_that_holds_none_back_is_refused_before_training(write_recipe, run_cli, tmp_path):
    recipe = write_recipe({"evaluators": [{"name": "swd", "reference": "held-out"}]})
    for command in ("validate", "run"):
        result = run_cli(command, recipe, *(["--out", tmp_path / "runs"] if command == "run" else []))
        assert result.exit_code == 2
        assert 'evaluators[0].reference: "held-out" scores against the images the data set holds back' in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("data", ["synthetic-faces", "image-folder"])
def test_auto_on_a_data_set_trained_whole_keeps_the_training_data_fingerprint(
    data, faces_root, write_recipe, train_recipe
):
    changes = {} if data == "synthetic-faces" else {"data": image_folder_data(faces_root)}
    evaluators = [{"name": "swd", "num_samples": 16, "reference": reference} for reference in ("auto", "data")]
    run = train_recipe(write_recipe({**changes, "evaluators": evaluators}))
    auto, training = [r for r in run.read_evaluations() if r["metric"] == "swd"][-2:]
    assert auto["reference"] == training["reference"] and auto["value"] == training["value"]
    assert auto["reference_source"] == training["reference_source"]
    assert not auto["reference_source"].startswith(("held-out", "training subset"))
