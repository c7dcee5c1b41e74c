"""The attribute-control evaluator, driven through a RunView stand-in whose generator is the synthetic-face
drawing itself: one that draws the attributes asked for, and one that ignores them."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from ganlab import RunDir
from ganlab.common.errors import ConfigError
from ganlab.common.labels import LabelSpace
from ganlab.contracts.engine import BuildContext
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig, draw_faces
from ganlab.evaluators.attribute_control import (
    AttributeControlConfig,
    AttributeControlEvaluator,
    attribute_control_section,
    balanced_labels,
    build,
)
from ganlab.metrics.attribute_classifier import balancing_weights

ATTRIBUTES = ["glasses", "smile", "hair"]
CONFIG = AttributeControlConfig(num_real=400, classifier_epochs=15, num_samples=300, device="cpu")
FACES = SyntheticFacesConfig(image_size=32, num_images=500, attributes=ATTRIBUTES)


class DrawingRun:
    """The RunView members the evaluator uses; ``obeys`` says whether generate draws the requested labels."""

    def __init__(self, run_dir: RunDir, dataset: SyntheticFaces, obeys: bool):
        self.run_dir = run_dir
        self.dataset = dataset
        self.label_space: LabelSpace | None = self.dataset.label_space
        self.obeys = obeys
        self.device = torch.device("cpu")
        self.step, self.epoch = 40, 2

    def _indices(self, num: int, seed: int) -> torch.Tensor:
        return torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(seed))[:num]

    def real_images(self, num: int, seed: int = 0) -> torch.Tensor:
        return self.dataset.get_batch(self._indices(num, seed))

    def real_labels(self, num: int, seed: int = 0) -> torch.Tensor:
        return self.dataset.labels[self._indices(num, seed)]

    def generate(self, num: int, seed: int, batch_size: int = 256, labels: torch.Tensor | None = None):
        if not self.obeys:  # a broken conditioning: faces with labels of their own
            labels = balanced_labels(self.label_space, num, seed + 99)
        traits = dict(zip(self.label_space.names, labels.numpy().T))
        return torch.from_numpy(draw_faces(num, 32, seed + 1000, traits=traits))

    def log_evaluation(self, metric: str, value: float, **protocol: Any) -> None:
        self.run_dir.append_jsonl(
            "evaluations.jsonl",
            [{"metric": metric, "value": value, "step": self.step, "epoch": self.epoch, **protocol}],
        )


@pytest.fixture(scope="module")
def evaluator() -> AttributeControlEvaluator:
    """One evaluator for the module: it trains its classifier once for the data set the runs share."""
    return AttributeControlEvaluator(CONFIG, torch.device("cpu"))


@pytest.fixture(scope="module")
def faces() -> SyntheticFaces:
    return SyntheticFaces(FACES)


def scored(evaluator, faces, folder, obeys: bool) -> tuple[RunDir, dict[str, Any]]:
    run = DrawingRun(RunDir.create(folder, "control"), faces, obeys)
    evaluator.on_run_start(run)
    return run.run_dir, {s.metric: s for s in evaluator.evaluate(run)}


@pytest.fixture(scope="module")
def obeying(evaluator, faces, tmp_path_factory):
    return scored(evaluator, faces, tmp_path_factory.mktemp("obeying"), obeys=True)


@pytest.fixture(scope="module")
def ignoring(evaluator, faces, tmp_path_factory):
    return scored(evaluator, faces, tmp_path_factory.mktemp("ignoring"), obeys=False)


def test_a_generator_that_draws_what_is_asked_scores_near_the_classifier_s_accuracy(obeying):
    _, scores = obeying
    protocol = scores["attribute_control"].protocol
    for name in ATTRIBUTES:
        held_out = protocol["classifier_accuracy"][name]
        assert held_out > 0.85, f"the classifier cannot tell {name}"
        assert scores[f"attribute_control_{name}"].value > held_out - 0.1
        assert scores[f"attribute_control_{name}"].value > protocol["chance"][name] + 0.3
    assert protocol["chance"] == {"glasses": 0.5, "smile": 0.5, "hair": 0.2}


def test_a_generator_that_ignores_its_labels_scores_near_chance(ignoring):
    _, scores = ignoring
    chance = scores["attribute_control"].protocol["chance"]
    for name in ATTRIBUTES:
        assert abs(scores[f"attribute_control_{name}"].value - chance[name]) < 0.12
    assert scores["attribute_control"].value < 0.5


def test_scores_are_logged_with_their_protocol_and_direction(obeying):
    run_dir, _ = obeying
    records = {r["metric"]: r for r in run_dir.read_evaluations()}
    assert set(records) == {"attribute_control", *(f"attribute_control_{n}" for n in ATTRIBUTES)}
    mean = records["attribute_control"]
    assert mean["higher_is_better"] is True and mean["requested"] == "balanced"
    assert mean["num_generated"] == 300 and mean["num_reference"] == 400 and mean["classifier_epochs"] == 15
    assert mean["value"] == pytest.approx(sum(records[f"attribute_control_{n}"]["value"] for n in ATTRIBUTES) / 3)


def test_the_report_section_tabulates_each_attribute_from_the_run_directory(obeying):
    run_dir, _ = obeying
    section = attribute_control_section(run_dir)
    records = {r["metric"]: r for r in run_dir.read_evaluations()}
    assert section.title == "Attribute control"
    assert (
        "<th>attribute</th><th>classifier held-out accuracy</th><th>control accuracy</th><th>chance</th>"
        in section.html
    )
    smile = records["attribute_control_smile"]["value"]
    assert (
        f"<tr><td>smile</td><td>{records['attribute_control']['classifier_accuracy']['smile']:.3f}</td>"
        f"<td>{smile:.3f}</td><td>0.500</td></tr>"
    ) in section.html


def test_a_run_directory_without_scores_gets_a_placeholder_section(tmp_path):
    assert "No scores yet" in attribute_control_section(RunDir.create(tmp_path, "new")).html


def test_balanced_labels_give_each_value_its_share():
    space = SyntheticFaces(SyntheticFacesConfig(num_images=1, attributes=["hair", "smile"])).label_space
    labels = balanced_labels(space, 100, seed=3)
    assert torch.bincount(labels[:, 0]).tolist() == [20] * 5 and torch.bincount(labels[:, 1]).tolist() == [50] * 2
    assert torch.equal(labels, balanced_labels(space, 100, seed=3))


def test_an_unconditional_run_is_refused_before_training(tmp_path):
    context = BuildContext(seed=0, device=torch.device("cpu"), image_size=32, channels=3)
    with pytest.raises(ConfigError, match="needs a conditional run on labelled data"):
        build(CONFIG, context)
    unlabelled = SyntheticFaces(SyntheticFacesConfig(image_size=16, num_images=8))
    run = DrawingRun(RunDir.create(tmp_path, "plain"), unlabelled, obeys=True)
    with pytest.raises(ConfigError, match="needs a conditional run on labelled data"):
        AttributeControlEvaluator(CONFIG, None).on_run_start(run)


def test_a_rare_value_is_found_and_the_reported_accuracy_is_the_balanced_one(tmp_path):
    """Glasses on 5% of 2,000 faces: the classifier's loss weighs them as much as the faces without, so a
    generator that draws what is asked scores near 1, and the accuracy it is held to is the mean recall of
    the two values (what balanced requests are judged by), not the plain accuracy that answering "no"
    always would make 0.95."""
    rare = SyntheticFaces(
        SyntheticFacesConfig(image_size=32, num_images=2000, attributes=["glasses"], frequencies={"glasses": 0.05})
    )
    evaluator = AttributeControlEvaluator(
        AttributeControlConfig(num_real=2000, classifier_epochs=8, num_samples=300, device="cpu"), torch.device("cpu")
    )
    run = DrawingRun(RunDir.create(tmp_path, "rare"), rare, obeys=True)
    scores = {s.metric: s for s in evaluator.evaluate(run)}
    protocol = scores["attribute_control"].protocol
    classifier, _ = evaluator.judge(run)
    recall = protocol["classifier_recall"]["glasses"]
    assert recall == {value: round(r, 4) for value, r in zip("01", classifier.held_out_recall[0])}
    assert protocol["classifier_accuracy"]["glasses"] == pytest.approx((recall["0"] + recall["1"]) / 2, abs=1e-4)
    assert protocol["chance"]["glasses"] == 0.5
    assert scores["attribute_control_glasses"].value > 0.9


def test_balancing_weights_give_each_value_that_occurs_an_equal_share_of_the_loss():
    labels = torch.tensor([0] * 90 + [1] * 10)
    weights = balancing_weights(labels, 3)
    assert torch.allclose(weights, torch.tensor([100 / 180, 100 / 20, 0.0]))
    assert torch.allclose(torch.bincount(labels, weights=weights[labels]), torch.tensor([50.0, 50.0]))
