"""Conditioning works end to end: on the labelled synthetic faces, a short seeded conditional run makes faces
with the hair colour and glasses asked for clearly more often than the same model trained on the same faces
with their labels shuffled, as the attribute-control metric judges. A break anywhere on the labels' way
(data to D, draws to G, the metric's requested labels to generate, their column order against the
classifier's) leaves the conditional run at chance too, and the test fails.

The metric's classifier learns from the run's own labels, so on the shuffled run it is at chance whatever
that generator does; the test therefore also judges both generators with one classifier trained on the
faces' true labels: the conditioned one makes what is asked, the shuffled one does not."""

from __future__ import annotations

import dataclasses
import sys

import torch

import ganlab
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig
from ganlab.evaluators.attribute_control import balanced_labels
from ganlab.loading.manager import load_plugins
from ganlab.metrics.attribute_classifier import train_classifier
from ganlab.training.generate import images, load_generator


@dataclasses.dataclass
class ShuffledFacesConfig(SyntheticFacesConfig):
    pass


class ShuffledFaces(SyntheticFaces):
    """The synthetic faces with their labels permuted: each image carries another face's labels, so the
    labels tell a network nothing about the image, while their distribution stays the data's."""

    def __init__(self, config: ShuffledFacesConfig):
        super().__init__(config)
        self.labels = self.labels[torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(1))]


@ganlab.component(
    "dataset", "shuffled-faces", config=ShuffledFacesConfig, help="synthetic faces with their labels shuffled"
)
def build_shuffled_faces(config: ShuffledFacesConfig, context: ganlab.BuildContext) -> ShuffledFaces:
    return ShuffledFaces(config)


FACES = {"image_size": 16, "num_images": 512, "attributes": ["hair", "glasses"]}
CHANCE = (1 / 5 + 1 / 2) / 2
"""The mean control accuracy of a generator that ignores its labels: each of 5 hair colours and 2 glasses
values requested equally often."""
RECIPE = {
    "data": {"name": "synthetic-faces", **FACES},
    "generator": {"name": "cdcgan", "latent_dim": 16, "features": 16, "embed_dim": 8},
    "discriminator": {"name": "cdcgan-projection", "features": 16},
    "optimizer": {
        "generator": {"name": "adam", "lr": 2e-3, "betas": [0.5, 0.999]},
        "discriminator": {"name": "adam", "lr": 2e-3, "betas": [0.5, 0.999]},
    },
    "train": {"epochs": 16, "batch_size": 32, "log_every": 16, "grid_size": 16},
    "evaluators": [
        {"name": "attribute-control", "every": 100, "num_real": 512, "classifier_epochs": 6, "num_samples": 250}
    ],
}
"""16 epochs of 16 steps at a learning rate 10x DCGAN's: about 7 CPU seconds a run."""


def control(run: ganlab.RunDir) -> float:
    return [e["value"] for e in run.read_evaluations() if e["metric"] == "attribute_control"][-1]


def judged_by_the_true_labels(runs: list[ganlab.RunDir]) -> list[float]:
    """How often each run's final generator makes the attribute values asked for (balanced requests), as
    one classifier trained on the faces' true labels finds them; the mean over attributes."""
    faces = SyntheticFaces(SyntheticFacesConfig(**FACES))
    judge = train_classifier(
        faces.images, faces.labels, faces.label_space.sizes, held_out=0.2, epochs=6, seed=0, device=torch.device("cpu")
    )
    assert min(judge.held_out_accuracy) > 0.85
    requested = balanced_labels(faces.label_space, 250, seed=1)
    plugins = load_plugins([("shuffled", sys.modules[__name__])], entry_points=False)
    scores = []
    for run in runs:
        generator, _, labels = load_generator(run, plugins, torch.device("cpu"))
        made = images(generator, len(requested), seed=2, device=torch.device("cpu"), labels=labels, fixed=requested)
        scores.append((judge.model.predict(made) == requested).float().mean().item())
    return scores


def test_conditioning_controls_the_attributes_where_shuffled_labels_do_not(register_plugin, write_recipe, train_recipe):
    register_plugin(sys.modules[__name__], "shuffled")
    conditioned_run = train_recipe(write_recipe(RECIPE))
    shuffled_recipe = {**RECIPE, "data": {"name": "shuffled-faces", **FACES}}
    shuffled_run = train_recipe(write_recipe(shuffled_recipe, name="shuffled.toml"), "experiment.name=shuffled")
    conditioned, shuffled = control(conditioned_run), control(shuffled_run)
    assert abs(shuffled - CHANCE) < 0.1
    assert conditioned > shuffled + 0.25
    truly_conditioned, truly_shuffled = judged_by_the_true_labels([conditioned_run, shuffled_run])
    assert truly_shuffled < CHANCE + 0.1  # its labels still sway it, at random: it may even fall below
    assert truly_conditioned > CHANCE + 0.25 and truly_conditioned > truly_shuffled + 0.25
