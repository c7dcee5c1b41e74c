"""The ``attribute-control`` evaluator: how often a conditional generator's faces carry the attributes asked for.

An attribute classifier (:mod:`ganlab.metrics.attribute_classifier`) is trained on the run's own labelled
real images and checked on a held-out part of them; then images generated with requested labels are
classified, and the control accuracy of an attribute is the share whose predicted value is the requested
one. Chance is what a generator that ignores its labels (but draws faces like the data's) would score:
sum over values of P(requested) x P(value in the data). A control accuracy near chance means the labels
do nothing; one near the classifier's held-out accuracy means they work as well as can be measured.

That accuracy is weighted as the requests are: under balanced requests, the mean over values of the
classifier's recall of each. The plain accuracy hides a classifier weak on a rare value (CelebA's
Eyeglasses: 0.975 held out, against 0.933 for always answering "no"), which then bounds control far below
it; each value's recall is in the protocol too (``classifier_recall``).
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING, Literal

import torch

from ..common.config import param, seed_param
from ..common.errors import ConfigError
from ..common.labels import LabelSpace
from ..contracts.engine import BuildContext, ReportSection, RunView, higher_is_better
from ..machine.memory import Need
from ..metrics.attribute_classifier import ARCHITECTURE, TrainedClassifier, train_classifier
from ..metrics.protocol import SAMPLING as SAMPLING_PROTOCOL
from ..registry.registry import component
from .metric_base import Device, MetricEvaluator, Score, every_param, for_report_only, generated_images, resolve_device
from .metric_sections import ORDER, protocol_html

if TYPE_CHECKING:
    from ..rundir.rundir import RunDir

METRIC = "attribute_control"
PER_ATTRIBUTE = METRIC + "_"
"""Prefix of each attribute's own score (``attribute_control_Smiling``), beside the mean."""
NEEDS_LABELS = (
    "the attribute-control evaluator needs a conditional run on labelled data (data.attributes, or "
    'image-folder\'s labels = "folders") and a generator conditioned on them'
)


@dataclasses.dataclass
class AttributeControlConfig:
    every: int = every_param()
    seed: int = seed_param(
        0, "seed of the real-image sample, the classifier's training, the requested labels and the latent vectors"
    )
    num_real: int = param(1000, "labelled real images the classifier learns from (at most the data set)", min=4)
    held_out: float = param(
        0.2, "fraction of num_real kept aside to measure the classifier's accuracy", min=0.05, max=0.5
    )
    classifier_epochs: int = param(15, "passes of the classifier over its training images", min=1)
    num_samples: int = param(1000, "generated images per evaluation", min=1)
    requested: Literal["balanced", "data"] = param(
        "balanced",
        "the labels asked for: each attribute's values equally often (balanced), or drawn like "
        "the data's labels (data)",
    )
    device: Device = param("auto", "where the classifier runs; auto follows the run's device")

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """The generated images an evaluation classifies, made at once with the int64 labels asked for."""
        attributes = len(context.label_space.attributes) if context.label_space is not None else 0
        return [generated_images("num_samples", self.num_samples, context, 2 * 8 * attributes, " and their labels")]


def balanced_labels(space: LabelSpace, num: int, seed: int) -> torch.Tensor:
    """``num`` labels in which each attribute's values occur equally often (within one), in seeded order."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack(
        [(torch.arange(num) % size)[torch.randperm(num, generator=generator)] for size in space.sizes], dim=1
    )


def chance(requested: torch.Tensor, data: torch.Tensor, sizes: tuple[int, ...]) -> list[float]:
    """Per attribute, the control accuracy of a generator that ignores the labels it is given."""

    def share(labels: torch.Tensor, size: int) -> torch.Tensor:
        return torch.bincount(labels, minlength=size).double() / len(labels)

    return [float((share(requested[:, a], size) * share(data[:, a], size)).sum()) for a, size in enumerate(sizes)]


class AttributeControlEvaluator(MetricEvaluator):
    """Control accuracy per attribute and its mean, judged by a classifier trained once per run."""

    name = "attribute-control"
    metrics = (higher_is_better(METRIC),)

    def __init__(self, config: AttributeControlConfig, device: torch.device | None):
        super().__init__(config.every)
        self.config = config
        self.device = device
        self._judge: tuple[object, TrainedClassifier, torch.Tensor] | None = None

    def on_run_start(self, run: RunView) -> None:
        if run.label_space is None:
            raise ConfigError("evaluators", NEEDS_LABELS)

    def judge(self, run: RunView) -> tuple[TrainedClassifier, torch.Tensor]:
        """The classifier and the real labels it learnt from, trained on first use for this data set."""
        cfg = self.config
        if self._judge is None or self._judge[0] is not run.dataset:
            images, labels = run.real_images(cfg.num_real, cfg.seed), run.real_labels(cfg.num_real, cfg.seed)
            trained = train_classifier(
                images,
                labels,
                run.label_space.sizes,
                cfg.held_out,
                cfg.classifier_epochs,
                cfg.seed,
                self.device or run.device,
            )
            self._judge = (run.dataset, trained, labels)
        return self._judge[1], self._judge[2]

    def requested_labels(self, run: RunView) -> torch.Tensor:
        cfg = self.config
        if cfg.requested == "balanced":
            return balanced_labels(run.label_space, cfg.num_samples, cfg.seed)
        return run.real_labels(cfg.num_samples, cfg.seed + 1)

    def ceiling(self, classifier: TrainedClassifier) -> tuple[float, ...]:
        """Per attribute, the classifier's held-out accuracy on images whose values come as the requests
        do: the best control accuracy it can measure."""
        return classifier.balanced_accuracy if self.config.requested == "balanced" else classifier.held_out_accuracy

    def scores(self, run: RunView) -> list[Score]:
        cfg = self.config
        if run.label_space is None:
            raise ConfigError("evaluators", NEEDS_LABELS)
        classifier, real_labels = self.judge(run)
        requested = self.requested_labels(run)
        found = classifier.model.predict(run.generate(len(requested), seed=cfg.seed, labels=requested))
        control = (found == requested).float().mean(0).tolist()
        names, sizes = run.label_space.names, run.label_space.sizes
        protocol = {
            "classifier": ARCHITECTURE,
            "classifier_epochs": cfg.classifier_epochs,
            "num_reference": len(real_labels),
            "held_out": cfg.held_out,
            "classifier_accuracy": {n: round(a, 4) for n, a in zip(names, self.ceiling(classifier))},
            "classifier_recall": {
                a.name: {v: None if r is None else round(r, 4) for v, r in zip(a.values, recalls)}
                for a, recalls in zip(run.label_space.attributes, classifier.held_out_recall)
            },
            "chance": {n: round(c, 4) for n, c in zip(names, chance(requested, real_labels, sizes))},
            "requested": cfg.requested,
            "num_generated": len(requested),
            "seed": cfg.seed,
            "sampling": SAMPLING_PROTOCOL,
            "higher_is_better": True,
        }
        return [
            Score(METRIC, sum(control) / len(control), protocol),
            *(Score(PER_ATTRIBUTE + name, value, protocol) for name, value in zip(names, control)),
        ]

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [attribute_control_section(run_dir)]


def attribute_control_section(run_dir: RunDir) -> ReportSection:
    """The latest evaluation's table: attribute, classifier held-out accuracy, control accuracy, chance."""
    title = "Attribute control"
    records = [r for r in run_dir.read_evaluations() if r.get("metric", "").startswith(METRIC)]
    means = [r for r in records if r["metric"] == METRIC]
    if not means:
        return ReportSection(title, "<p>No scores yet.</p>", ORDER + 3)
    latest = means[-1]
    own = {
        r["metric"][len(PER_ATTRIBUTE) :]: r["value"]
        for r in records
        if r["metric"] != METRIC
        and r.get("step") == latest.get("step")
        and r.get("checkpoint") == latest.get("checkpoint")
    }
    accuracy, chances = latest.get("classifier_accuracy", {}), latest.get("chance", {})

    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, (int, float)) else ""

    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{cell(accuracy.get(name))}</td>"
        f"<td>{cell(own.get(name))}</td><td>{cell(chances.get(name))}</td></tr>"
        for name in accuracy
    )
    body = (
        f"<p>How often the generated faces carry the attribute values asked for, as judged by a classifier "
        f"trained on the run's real images (step {html.escape(str(latest.get('step')))}; mean control "
        f"accuracy {cell(latest['value'])}). Control near chance: the labels do nothing; near the "
        f"classifier's held-out accuracy (each value weighted as it is requested): they work as well as "
        f"can be measured.</p>"
        "<table><thead><tr><th>attribute</th><th>classifier held-out accuracy</th><th>control accuracy</th>"
        f"<th>chance</th></tr></thead><tbody>{rows}</tbody></table>" + protocol_html(means)
    )
    return ReportSection(title, body, ORDER + 3)


@component(
    "evaluator",
    "attribute-control",
    config=AttributeControlConfig,
    help="how often a conditional generator's images carry the requested labels, judged by a small "
    "classifier trained on the run's real images; offline",
)
def build(config: AttributeControlConfig, context: BuildContext) -> AttributeControlEvaluator:
    if for_report_only(context):
        return AttributeControlEvaluator(config, None)
    if getattr(context, "label_space", None) is None:
        raise ConfigError("name", NEEDS_LABELS)
    return AttributeControlEvaluator(config, resolve_device(config.device, context.device))
