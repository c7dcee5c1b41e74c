"""The real torch-fidelity path, offline: a randomly initialised Inception saved as a plain state dict.

Inception on a CPU is slow (about half a second per image here), so these tests score a handful of 16x16
images; torch-fidelity resizes every image to 299x299 regardless.
"""

from pathlib import Path

import pytest
import torch
import torch_fidelity
from PIL import Image

from conftest import TINY_RECIPE, count_calls, merge
from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.metrics.reference import sample_images
from ganlab.metrics.weights import ENV_VAR
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.loop import Trainer

N = 3

EVALUATORS = {
    "evaluators": [
        {"name": "fid", "num_samples": N, "num_reference": N, "batch_size": N},
        {"name": "kid", "num_samples": N, "num_reference": N, "batch_size": N, "subsets": 3, "subset_size": N},
        {"name": "precision-recall", "num_samples": N, "num_reference": N, "batch_size": N, "neighborhood": 2},
    ]
}


def start_run(recipe_path: Path, plugins, out: Path) -> Trainer:
    recipe = load_recipe(recipe_path, plugins.registry)
    return Trainer(build(recipe), RunDir.create(out, "fidelity"), plugins, progress=False)


def export(images: torch.Tensor, folder: Path) -> str:
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return str(folder)


@pytest.fixture(scope="module")
def scored(inception_weights, tmp_path_factory):
    """One run of the tiny recipe scored once by the fid, kid and precision-recall evaluators (Inception is slow)."""
    root = tmp_path_factory.mktemp("scored")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(ENV_VAR, str(inception_weights))
        monkeypatch.setenv("GANLAB_CACHE_DIR", str(root / "cache"))
        recipe = root / "recipe.toml"
        recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, EVALUATORS)), "utf-8")
        run = start_run(recipe, load_plugins(entry_points=False), root / "runs")
        calls = count_calls(monkeypatch)
        scores = {s.metric: s for _, evaluator in run.built.evaluators for s in evaluator.evaluate(run)}
    return run, scores, calls


def test_the_three_evaluators_share_one_pass_over_generated_and_one_over_reference_images(scored):
    _, _, calls = scored
    assert calls == [N, N]


def test_fid_kid_and_precision_recall_equal_torch_fidelity_on_the_same_images_exported_to_folders(
    scored, inception_weights, tmp_path
):
    run, scores, _ = scored
    generated = export(run.generate(N, seed=0), tmp_path / "generated")
    reference = export(sample_images(run.dataset, N, seed=0), tmp_path / "reference")
    expected = torch_fidelity.calculate_metrics(
        input1=generated,
        input2=reference,
        fid=True,
        kid=True,
        prc=True,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception_weights),
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=N,
        save_cpu_ram=True,
        kid_subsets=3,
        kid_subset_size=N,
        prc_neighborhood=2,
        rng_seed=0,
    )
    assert expected["frechet_inception_distance"] > 1e-3
    assert scores["fid"].value == pytest.approx(expected["frechet_inception_distance"], rel=1e-6)
    assert scores["kid"].value == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-6)
    assert scores["kid"].std == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-6)
    assert scores["precision"].value == expected["precision"]
    assert scores["recall"].value == expected["recall"]


def test_every_score_is_logged_with_its_full_protocol(scored):
    run, _, _ = scored
    records = {r["metric"]: r for r in run.run_dir.read_evaluations()}
    assert sorted(records) == ["fid", "kid", "precision", "recall"]
    for record in records.values():
        assert record["library"] == "torch-fidelity" and record["library_version"] == torch_fidelity.__version__
        assert record["feature_extractor"] == "inception-v3-compat" and record["feature_layer"] == "2048"
        assert len(record["network_sha256"]) == 64 and len(record["reference"]) == 64
        assert record["network_source"] == "$GANLAB_INCEPTION_WEIGHTS"
        assert record["num_generated"] == N and record["num_reference"] == N
        assert "synthetic-faces" in record["reference_source"]
    assert records["kid"]["kid_subset_size"] == N and records["kid"]["std"] >= 0
    assert records["precision"]["neighborhood"] == 2


def test_a_later_run_on_the_same_data_pays_only_for_generated_images_until_the_data_changes(
    weights_in_env, write_recipe, plugins, tmp_path, extractor_calls, monkeypatch
):
    # kid shares the reference cache with fid and precision-recall, and skips FID's costly 2048x2048
    # eigendecomposition; two images a side keep Inception's share small. The cache starts empty.
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(tmp_path / "cache"))
    kid = {"evaluators": [{"name": "kid", "num_samples": 2, "num_reference": 2, "subsets": 2, "subset_size": 2}]}
    first = start_run(write_recipe(kid, "a.toml"), plugins, tmp_path / "runs")
    first.built.evaluators[0][1].evaluate(first)
    assert extractor_calls == [2, 2]
    another_model = {**kid, "experiment": {"seed": 1}}
    later = start_run(write_recipe(another_model, "b.toml"), plugins, tmp_path / "runs")
    later.built.evaluators[0][1].evaluate(later)
    assert extractor_calls == [2, 2, 2]  # the reference came from the cache
    other_data = start_run(write_recipe({**kid, "data": {"seed": 7}}, "c.toml"), plugins, tmp_path / "runs")
    other_data.built.evaluators[0][1].evaluate(other_data)
    assert extractor_calls == [2, 2, 2, 2, 2]
