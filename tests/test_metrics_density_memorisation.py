"""The density-coverage and memorisation evaluators on a randomly initialised Inception: what they log, that
they share the reference features with the other Inception evaluators, that memorisation catches a generator
that copies, its closest pairs in the report (also when rebuilt or resumed), ``ganlab evaluate``, and the
settings they refuse; and that compare knows which way each new score is better.

Inception on a CPU takes a second or so per image, so the runs score three 16x16 images a side.
"""

import hashlib
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from conftest import TINY_RECIPE, count_calls, merge
from ganlab.common import tomlwrite
from ganlab.common.errors import ConfigError
from ganlab.contracts.engine import BuildContext
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig
from ganlab.evaluators.closest_pairs import FILES, LOG
from ganlab.evaluators.density_coverage import DensityCoverageConfig, DensityCoverageEvaluator
from ganlab.evaluators.memorisation import MemorisationConfig
from ganlab.evaluators.memorisation import build as build_memorisation
from ganlab.loading.manager import load_plugins
from ganlab.metrics.cache import ReferenceCache
from ganlab.metrics.reference import sample_images
from ganlab.metrics.weights import ENV_VAR
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe

N = 3
PAIRS = 2
SMALL = {"num_samples": N, "num_reference": N, "batch_size": N}
EVALUATORS = {
    "evaluators": [
        {"name": "precision-recall", **SMALL, "neighborhood": 2},
        {"name": "density-coverage", **SMALL, "nearest_k": 2},
        {"name": "memorisation", **SMALL, "pairs": PAIRS},
    ]
}
DATA = SyntheticFacesConfig(**{k: v for k, v in TINY_RECIPE["data"].items() if k != "name"})
CPU = BuildContext(seed=0, device=torch.device("cpu"), image_size=16, channels=3)


class Trained(NamedTuple):
    run_dir: RunDir
    calls: list[int]  # images per Inception pass
    cache: Path  # its reference cache


@pytest.fixture(scope="module")
def trained(inception_weights, tmp_path_factory):
    """A two-epoch tiny run scored after each epoch by precision-recall, density-coverage and memorisation,
    with its own reference cache."""
    root = tmp_path_factory.mktemp("neighbours")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(ENV_VAR, str(inception_weights))
        monkeypatch.setenv("GANLAB_CACHE_DIR", str(root / "cache"))
        (root / "recipe.toml").write_text(tomlwrite.dumps(merge(TINY_RECIPE, EVALUATORS)), "utf-8")
        plugins = load_plugins(entry_points=False)
        calls = count_calls(monkeypatch)
        run_dir = run_recipe(
            load_recipe(root / "recipe.toml", plugins.registry), plugins, root / "runs", progress=False
        )
    return Trained(run_dir, calls, root / "cache")


@pytest.fixture
def same_cache(trained, weights_in_env, monkeypatch):
    """The trained run's reference cache and Inception weights, for commands run on a copy of it."""
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(trained.cache))


def records(run_dir, metric):
    return [r for r in run_dir.read_evaluations() if r["metric"] == metric]


def section(page: str, title: str) -> str:
    """The HTML of the report section titled ``title``."""
    start = page.index(f"<h2>{title}")
    return page[start : page.index("</section>", start)]


def test_the_reference_is_featurised_once_for_all_inception_evaluators_and_generated_images_once_per_evaluation(
    trained,
):
    assert trained.calls == [N, N, N]  # the reference, then the generated images after epochs 1 and 2


def test_density_and_coverage_are_logged_after_every_epoch_with_their_protocol(trained):
    run_dir = trained.run_dir
    precision = records(run_dir, "precision")[-1]
    for metric in ("density", "coverage"):
        logged = records(run_dir, metric)
        assert [r["epoch"] for r in logged] == [1, 2]
        record = logged[-1]
        assert record["library"] == "torch-fidelity" and record["feature_layer"] == "2048"
        assert record["network_sha256"] == precision["network_sha256"]
        assert record["reference"] == precision["reference"], "the same reference set as precision's"
        assert record["num_generated"] == record["num_reference"] == N
        assert record["implementation"] == "ganlab-prdc/naeem2020" and record["nearest_k"] == 2
        assert record["higher_is_better"] is True
    assert records(run_dir, "density")[-1]["value"] >= 0
    assert 0 <= records(run_dir, "coverage")[-1]["value"] <= 1


def test_memorisation_scores_are_logged_with_their_protocol_and_the_direction_of_the_fraction(trained):
    run_dir = trained.run_dir
    fraction, median = records(run_dir, "memorised_fraction"), records(run_dir, "nn_ratio_median")
    assert [r["epoch"] for r in fraction] == [r["epoch"] for r in median] == [1, 2]
    assert fraction[-1]["threshold"] == 0.5 and fraction[-1]["higher_is_better"] is False
    assert "threshold" not in median[-1] and "higher_is_better" not in median[-1]
    assert fraction[-1]["implementation"] == median[-1]["implementation"] == "ganlab-nn-ratio/alaa2022"
    assert "synthetic-faces" in median[-1]["reference_source"], "the training data is the reference"
    assert fraction[-1]["reference"] == records(run_dir, "precision")[-1]["reference"]
    # The tiny run's blurry images are far from every face it trained on: nothing is memorised.
    assert fraction[-1]["value"] == 0 and median[-1]["value"] > 1


def test_each_evaluation_saves_its_closest_pairs_as_images_named_in_a_log(trained):
    run_dir = trained.run_dir
    saved = FILES.read(run_dir, LOG)
    assert [r["step"] for r in saved] == [4, 8]
    pairs = saved[-1]["pairs"]
    assert len(pairs) == PAIRS and pairs[0]["ratio"] <= pairs[1]["ratio"]
    for pair in pairs:
        assert FILES.path(run_dir, pair["image"]).read_bytes().startswith(b"\x89PNG")
        assert 0 <= pair["training"] < 64 and 0 <= pair["generated"] < N


def test_the_report_shows_the_closest_pairs_and_the_scores_also_when_rebuilt(trained, run_cli, tmp_path):
    run_dir = trained.run_dir
    copy = RunDir(shutil.copytree(run_dir.path, tmp_path / "copy"))
    copy.report_path.unlink()
    result = run_cli("report", copy.path)
    assert result.exit_code == 0, result.output
    page = copy.report_path.read_text("utf-8")
    pairs = section(page, "memorisation: closest training images and scores")
    assert len(re.findall(r'<img src="data:image/png;base64,', pairs)) == PAIRS
    last = FILES.read(copy, LOG)[-1]["pairs"][0]
    assert f"ratio {last['ratio']:.3g}" in pairs and f"training image #{last['training']}" in pairs
    assert "at step 8" in pairs and "memorised_fraction" in pairs and "Protocol of the latest score" in pairs
    assert "nearest_k" in section(page, "density-coverage: scores and protocol")


def test_a_resumed_run_scores_on_and_its_report_shows_the_latest_pairs(trained, same_cache, run_cli, tmp_path):
    copy = shutil.copytree(trained.run_dir.path, tmp_path / "copy")
    result = run_cli("run", "--resume", copy, "--set", "train.epochs=3", "--no-progress")
    assert result.exit_code == 0, result.output
    run_dir = RunDir.open(copy)
    assert [r["step"] for r in FILES.read(run_dir, LOG)] == [4, 8, 12]
    assert [r["epoch"] for r in records(run_dir, "memorised_fraction")] == [1, 2, 3]
    assert "at step 12" in section(run_dir.report_path.read_text("utf-8"), "memorisation: closest")


def test_ganlab_evaluate_scores_a_checkpoint_with_both_evaluators(trained, same_cache, run_cli, tmp_path):
    copy = shutil.copytree(trained.run_dir.path, tmp_path / "copy")
    result = run_cli("evaluate", copy, "--metric", "density-coverage", "--metric", "memorisation", "--checkpoint", "1")
    assert result.exit_code == 0, result.output
    added = [r for r in RunDir.open(copy).read_evaluations() if r.get("checkpoint") == "epoch_0001.pt"]
    assert [r["metric"] for r in added] == ["density", "coverage", "memorised_fraction", "nn_ratio_median"]
    assert all(r["step"] == 4 and r["num_generated"] == N for r in added)
    assert "appended 4 scores" in result.output


class Copier:
    """Just enough of a run for the memorisation evaluator, with a 'generator' that returns ``images``."""

    device = torch.device("cpu")
    progress = False
    step = epoch = 1

    def __init__(self, run_dir: RunDir, images: torch.Tensor):
        self.run_dir, self.images, self.dataset = run_dir, images, SyntheticFaces(DATA)

    def generate(self, num, seed, batch_size=256, labels=None):
        return self.images[:num]

    def sampling_weights_digest(self):
        return hashlib.sha256(self.images.numpy().tobytes()).hexdigest()

    def log_evaluation(self, metric, value, **protocol):
        pass


def test_memorisation_catches_a_generator_that_returns_training_images(same_cache, tmp_path, extractor_calls):
    evaluator = build_memorisation(MemorisationConfig(**SMALL), CPU)
    training = SyntheticFaces(DATA)
    copier = Copier(RunDir.create(tmp_path, "copier"), sample_images(training, N, seed=0))
    scores = {s.metric: s.value for s in evaluator.evaluate(copier)}
    assert scores["memorised_fraction"] == 1.0 and scores["nn_ratio_median"] == pytest.approx(0, abs=1e-6)
    closest = FILES.read(copier.run_dir, LOG)[0]["pairs"][0]
    assert torch.equal(training[closest["training"]], copier.images[closest["generated"]])
    assert extractor_calls == [N], "generated images only: the training features came from the run's cache"


class TinyData:
    """A run view of a data set of three images, too few for five nearest neighbours."""

    dataset = SyntheticFaces(SyntheticFacesConfig(image_size=16, num_images=3))


def test_density_coverage_refuses_a_reference_set_with_no_more_images_than_k_before_training():
    evaluator = DensityCoverageEvaluator("density-coverage", DensityCoverageConfig(), None, None, ReferenceCache())
    with pytest.raises(ConfigError) as info:
        evaluator.on_run_start(TinyData())
    assert info.value.key == "nearest_k"
    assert (
        "5 nearest neighbours need at least 6 real images; the reference synthetic-faces (3 of 3 images"
        in info.value.message
    )


REFUSED = {
    "k of zero": ({"name": "density-coverage", "nearest_k": 0}, "evaluators[0].nearest_k: must be at least 1, got 0"),
    "k as large as num_reference": (
        {"name": "density-coverage", "nearest_k": 5, "num_reference": 5},
        "evaluators[0].nearest_k: 5 nearest neighbours need at least 6 real images; num_reference is 5",
    ),
    "threshold above 1": ({"name": "memorisation", "threshold": 1.5}, "evaluators[0].threshold: must be at most 1.0"),
    "threshold of zero": ({"name": "memorisation", "threshold": 0.0}, "evaluators[0].threshold: must be at least 0.01"),
    "no pairs": ({"name": "memorisation", "pairs": 0}, "evaluators[0].pairs: must be at least 1, got 0"),
    "a reference folder": ({"name": "memorisation", "reference": "faces/"}, "evaluators[0].reference: unknown key"),
}


@pytest.mark.parametrize("evaluator, message", REFUSED.values(), ids=REFUSED.keys())
def test_bad_settings_are_refused_naming_the_key(evaluator, message, write_recipe, run_cli):
    result = run_cli("validate", write_recipe({"evaluators": [evaluator]}))
    assert result.exit_code == 2 and message in result.output, result.output


def test_compare_knows_which_way_each_new_score_is_better(trained, run_cli, tmp_path):
    runs = [shutil.copytree(trained.run_dir.path, tmp_path / name) for name in ("a", "b")]
    result = run_cli("compare", *runs, "--output", tmp_path / "compare.html")
    assert result.exit_code == 0, result.output
    best = {line.split(",")[0].strip(): line for line in result.output.splitlines() if ", best" in line}
    for metric in ("density", "coverage", "memorised_fraction"):
        assert "(step" in best[metric], f"{metric} declares its direction: compare shows its best"
    assert "(step" not in best["nn_ratio_median"], "the median ratio has no better direction"
