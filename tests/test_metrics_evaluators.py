"""The swd and diversity evaluators in a training run: schedule, logged scores, report sections."""

import shutil

import pytest
import torch

from conftest import TINY_RECIPE, merge
from ganlab.common import tomlwrite
from ganlab.common.errors import ConfigError
from ganlab.contracts.engine import BuildContext
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig, draw_faces
from ganlab.evaluators.weightfree import DiversityConfig, DiversityEvaluator, SwdConfig, build_swd
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.report.build import build_report
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe

WEIGHT_FREE = {
    "train": {"epochs": 3},
    "evaluators": [{"name": "swd", "every": 2, "num_samples": 16}, {"name": "diversity", "num_pairs": 10}],
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One three-epoch run shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("weightfree")
    (root / "recipe.toml").write_text(tomlwrite.dumps(merge(TINY_RECIPE, WEIGHT_FREE)), "utf-8")
    plugins = load_plugins(entry_points=False)
    return run_recipe(load_recipe(root / "recipe.toml", plugins.registry), plugins, root / "runs", progress=False)


def epochs_of(run_dir, metric):
    return [r["epoch"] for r in run_dir.read_evaluations() if r["metric"] == metric]


def test_scores_follow_the_schedule_and_the_final_model_is_always_scored(finished_run):
    assert epochs_of(finished_run, "swd") == [2, 3]  # every 2 epochs, plus the end of a 3-epoch run
    assert epochs_of(finished_run, "swd_16px") == [2, 3]
    assert epochs_of(finished_run, "diversity") == [1, 2, 3]
    assert epochs_of(finished_run, "diversity_real") == [1, 2, 3]


def test_weight_free_scores_carry_their_protocol(finished_run):
    swd = next(r for r in finished_run.read_evaluations() if r["metric"] == "swd")
    assert swd["implementation"].startswith("ganlab-swd") and swd["patch_size"] == 7
    assert swd["num_generated"] == swd["num_reference"] == 16 and len(swd["reference"]) == 64
    diversity = next(r for r in finished_run.read_evaluations() if r["metric"] == "diversity")
    assert diversity["num_pairs"] == 10 and diversity["scales"] == 1


def evaluator_sections(run_dir, plugins):
    recipe = load_recipe(run_dir.recipe_path, plugins.registry)
    context = BuildContext(seed=0, device=torch.device("cpu"), image_size=16, channels=3)
    return {
        s.title.split(":")[0]: s
        for h in recipe.evaluators
        for s in h.entry.factory(h.config, context).report_sections(run_dir)
    }


def test_report_sections_show_swd_per_level_and_diversity_fake_beside_real(finished_run, plugins):
    sections = evaluator_sections(finished_run, plugins)
    swd = finished_run.read_evaluations()
    last_swd = [r for r in swd if r["metric"] == "swd"][-1]["value"]
    assert "<th>16 px</th>" in sections["SWD"].html and f"{last_swd:.6g}" in sections["SWD"].html
    assert "<th>generated</th><th>real</th>" in sections["Diversity"].html
    assert "Protocol of the latest score" in sections["Diversity"].html


def test_the_report_warns_when_a_run_holds_scores_made_under_different_protocols(finished_run, plugins, tmp_path):
    run_dir = RunDir(shutil.copytree(finished_run.path, tmp_path / "copy"))
    last = [r for r in run_dir.read_evaluations() if r["metric"] == "swd"][-1]
    run_dir.append_jsonl("evaluations.jsonl", [{**last, "num_generated": 8, "num_reference": 8, "step": 99}])
    html = evaluator_sections(run_dir, plugins)["SWD"].html
    assert "not comparable" in html and "num_generated: 16 vs 8" in html


class CollapsedRun:
    """A run whose generator always draws the same face."""

    step = 10
    dataset = SyntheticFaces(SyntheticFacesConfig(image_size=32, num_images=64))

    def __init__(self):
        self.logged = []

    def generate(self, num, seed=None):
        return torch.from_numpy(draw_faces(1, 32, seed=5)).expand(num, -1, -1, -1)

    def log_evaluation(self, metric, value, **protocol):
        self.logged.append(metric)


def test_diversity_flags_a_collapsed_generator():
    scores = {s.metric: s.value for s in DiversityEvaluator(DiversityConfig(num_pairs=20), None).scores(CollapsedRun())}
    assert scores["diversity"] == pytest.approx(1.0)
    assert scores["diversity_real"] < 0.9


def test_swd_refuses_images_smaller_than_its_coarsest_level():
    with pytest.raises(ConfigError) as info:
        build_swd(SwdConfig(), BuildContext(seed=0, device=torch.device("cpu"), image_size=8, channels=3))
    assert info.value.key == "image_size" and "at least 16x16" in info.value.message


def test_a_resumed_evaluator_does_not_score_the_step_it_already_scored():
    run = CollapsedRun()
    before = DiversityEvaluator(DiversityConfig(num_pairs=5), None)
    before.evaluate(run)
    resumed = DiversityEvaluator(DiversityConfig(num_pairs=5), None)
    resumed.load_state_dict(before.state_dict())
    resumed.on_run_end(run, "finished")
    assert run.logged == ["diversity", "diversity_real"]


def test_the_run_report_shows_the_metric_sections_even_where_inception_weights_are_missing(
    finished_run, plugins, tmp_path
):
    run_dir = RunDir(shutil.copytree(finished_run.path, tmp_path / "copy"))
    with open(run_dir.recipe_path, "a", encoding="utf-8") as recipe:
        recipe.write('\n[[evaluators]]\nname = "fid"\n')  # as if the run had scored FID elsewhere
    page = build_report(run_dir, plugins.registry)
    assert "SWD: sliced Wasserstein distance" in page and "Diversity: mean MS-SSIM" in page
    assert "fid: scores and protocol" in page and "could not be built" not in page
