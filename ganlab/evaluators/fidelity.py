"""The ``fid``, ``kid`` and ``precision-recall`` evaluators: torch-fidelity scores against a cached reference.

Each factory finds and vets the Inception weights and builds the extractor, so a missing or unsafe
weights file stops ``ganlab validate`` and ``ganlab run`` before the first training step. The reference
side (features, FID mean and covariance) is computed once per reference fingerprint and weights file and
cached on disk (:mod:`ganlab.metrics.cache`); an evaluation then pays only for the generated images, and
the Inception evaluators of one evaluation share those too. :class:`FidelityEvaluator` is also the base of the
``density-coverage`` and ``memorisation`` evaluators, which score the same features.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..common.config import param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext, ImageDataset, ReportSection, RunView, higher_is_better, lower_is_better
from ..machine.memory import Need
from ..metrics.cache import ReferenceCache
from ..metrics.inception import (
    FEATURE_BYTES,
    INPUT_BYTES,
    InceptionFeatures,
    frechet_distance,
    kernel_distance,
    load_inception,
    precision_recall,
    statistics,
)
from ..metrics.protocol import SAMPLING as SAMPLING_PROTOCOL
from ..metrics.reference import ReferenceSample, open_reference, reference_sample
from ..metrics.weights import find_weights
from ..registry.registry import component
from ..rundir.rundir import RunDir
from .metric_base import (
    Device,
    MetricEvaluator,
    ScheduleConfig,
    Score,
    for_report_only,
    generated_images,
    resolve_device,
)
from .metric_sections import protocol_section


@dataclasses.dataclass
class InceptionConfig:
    """How an Inception evaluator featurises: what it scores against is its own (``reference`` for fid and its
    like, the training data for memorisation)."""

    num_samples: int = param(10000, "generated images per evaluation", min=2)
    num_reference: int = param(10000, "real images (at most the whole reference set)", min=2)
    batch_size: int = param(64, "images per Inception forward pass", min=1)
    device: Device = param("auto", "where Inception runs; auto follows the run's device")
    weights_path: str = param(
        "", "torch-fidelity's Inception weights file; empty: $GANLAB_INCEPTION_WEIGHTS, then the torch hub cache"
    )
    download: bool = param(False, "download the weights into the torch hub cache when they are missing")

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """An evaluation's generated images with their features (and the copy joining them), and one
        batch of Inception's inputs, resized to 299x299 floats."""
        return [
            generated_images(
                "num_samples", self.num_samples, context, 2 * FEATURE_BYTES, " and their Inception features"
            ),
            Need("batch_size", f"Inception's inputs of {self.batch_size:,} images", self.batch_size * INPUT_BYTES),
        ]


@dataclasses.dataclass
class FidelityConfig(InceptionConfig, ScheduleConfig):
    """An Inception evaluator's settings with its schedule and reference set (ScheduleConfig's fields first)."""


@dataclasses.dataclass
class KidConfig(FidelityConfig):
    subsets: int = param(100, "random subsets the kernel distance is averaged over", min=1)
    subset_size: int = param(1000, "images per subset (lowered to the smaller set's size when needed)", min=2)


@dataclasses.dataclass
class PrecisionRecallConfig(FidelityConfig):
    neighborhood: int = param(3, "k of the k-nearest-neighbour balls (Kynkäänniemi et al. 2019 use 3)", min=1)


def generated_images_key(run: RunView, num: int, seed: int) -> str:
    """What decides ``run.generate(num, seed=seed)``: the weights and buffers of the network the run samples
    from (its EMA copy when it keeps one), the device that runs it, the count and the seed.

    Generated features are shared under this key, so they are reused for the very same images only: two
    checkpoints that differ in any weight never share them, whatever their step or file name.
    """
    return f"{run.device}:{num}:{seed}:{run.sampling_weights_digest()}"


def reference_entry(
    inception: InceptionFeatures, sample: ReferenceSample, cache: ReferenceCache, batch_size: int, progress: bool
) -> dict[str, torch.Tensor]:
    """The reference sample's features and FID statistics, from the disk cache or computed and stored
    there: one entry per network and reference fingerprint, shared by every evaluator and ``ganlab score``."""
    key = f"inception-{inception.layer}-{inception.weights.sha256[:16]}-{sample.fingerprint()[:32]}"

    def compute() -> dict[str, torch.Tensor]:
        features = inception.of_batches(sample.batches(batch_size), sample.count, progress)
        return {"features": features, **statistics(features)}

    return cache.get_or_compute(key, compute)[0]


class FidelityEvaluator(MetricEvaluator):
    """Scores generated images against the reference through a shared torch-fidelity extractor.

    ``config`` is an :class:`InceptionConfig` with ``every`` and ``seed`` (a :class:`FidelityConfig`, or a
    evaluator's own); the reference is ``reference_set`` (a folder, the data set's held-out images), or the
    training data when that is None.
    """

    def __init__(
        self,
        name: str,
        config: InceptionConfig,
        inception: InceptionFeatures | None,
        reference_set: ImageDataset | None,
        cache: ReferenceCache,
    ):
        super().__init__(config.every)
        self.name = name
        self.config = config
        self.inception = inception
        self.reference_set = reference_set
        self.cache = cache
        self._reference: tuple[str, dict[str, torch.Tensor]] | None = None

    def reference(self, sample: ReferenceSample, progress: bool) -> dict[str, torch.Tensor]:
        """Features and FID statistics of the reference sample: from memory, the disk cache, or Inception."""
        fingerprint = sample.fingerprint()
        if self._reference is None or self._reference[0] != fingerprint:
            entry = reference_entry(self.inception, sample, self.cache, self.config.batch_size, progress)
            self._reference = (fingerprint, entry)
        return self._reference[1]

    def sample(self, run: RunView) -> ReferenceSample:
        """The real images this evaluator compares with: ``num_reference`` of the reference set, drawn with ``seed``."""
        return reference_sample(self.reference_set, run.dataset, self.config.num_reference, self.config.seed)

    def generated(self, run: RunView, images: torch.Tensor | None = None) -> torch.Tensor:
        """Features of ``run.generate(num_samples, seed=seed)``, computed once per evaluation for all the
        Inception evaluators; an evaluator that needs the pixels too passes the ``images`` it generated."""
        cfg = self.config
        return self.inception.memoised(
            generated_images_key(run, cfg.num_samples, cfg.seed),
            lambda: self.inception(
                run.generate(cfg.num_samples, seed=cfg.seed) if images is None else images, cfg.batch_size, run.progress
            ),
        )

    def protocol(self, sample: ReferenceSample) -> dict[str, Any]:
        """What every Inception score's protocol holds; an evaluator adds its own settings."""
        cfg = self.config
        return {
            **self.inception.protocol(),
            "num_generated": cfg.num_samples,
            "num_reference": sample.count,
            "reference": sample.fingerprint(),
            "reference_source": sample.label(),
            "seed": cfg.seed,
            "sampling": SAMPLING_PROTOCOL,
        }

    def scores(self, run: RunView) -> list[Score]:
        sample = self.sample(run)
        reference = self.reference(sample, run.progress)
        return self.compute(self.generated(run), reference, self.protocol(sample))

    def compute(
        self, generated: torch.Tensor, reference: dict[str, torch.Tensor], protocol: dict[str, Any]
    ) -> list[Score]:
        return [Score("fid", frechet_distance(statistics(generated), reference), protocol)]

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [protocol_section(run_dir, self.metric_names, f"{self.name}: scores and protocol")]


class FidEvaluator(FidelityEvaluator):
    metrics = (lower_is_better("fid"),)


class KidEvaluator(FidelityEvaluator):
    metrics = (lower_is_better("kid"),)

    def compute(
        self, generated: torch.Tensor, reference: dict[str, torch.Tensor], protocol: dict[str, Any]
    ) -> list[Score]:
        features = reference["features"]
        size = min(self.config.subset_size, len(generated), len(features))
        mean, std = kernel_distance(generated, features, self.config.subsets, size, self.config.seed)
        return [Score("kid", mean, {**protocol, "kid_subsets": self.config.subsets, "kid_subset_size": size}, std=std)]


class PrecisionRecallEvaluator(FidelityEvaluator):
    metrics = (higher_is_better("precision"), higher_is_better("recall"))

    def compute(
        self, generated: torch.Tensor, reference: dict[str, torch.Tensor], protocol: dict[str, Any]
    ) -> list[Score]:
        k = self.config.neighborhood
        precision, recall = precision_recall(generated, reference["features"], k)
        return [
            Score(metric, value, {**protocol, "neighborhood": k})
            for metric, value in (("precision", precision), ("recall", recall))
        ]


def inception_for(config: InceptionConfig, context: BuildContext) -> InceptionFeatures:
    """The extractor an evaluator's settings ask for, from vetted weights: a factory calls it, so a missing or
    unsafe weights file stops ``ganlab validate`` and ``ganlab run`` before the first training step."""
    device = resolve_device(config.device, context.device)
    return load_inception(find_weights(config.weights_path, config.download), device)


def build_fidelity_evaluator(
    name: str, evaluator_class: type[FidelityEvaluator], config: FidelityConfig, context: BuildContext
) -> FidelityEvaluator:
    """An evaluator scored against ``config.reference``; built for the report alone, it needs neither."""
    if for_report_only(context):
        return evaluator_class(name, config, None, None, ReferenceCache())
    if isinstance(config, KidConfig) and config.subset_size > min(config.num_samples, config.num_reference):
        raise ConfigError(
            "subset_size",
            f"{config.subset_size} is larger than num_samples "
            f"({config.num_samples}) or num_reference ({config.num_reference})",
        )
    reference_set = open_reference(config.reference, context)
    return evaluator_class(name, config, inception_for(config, context), reference_set, ReferenceCache())


@component(
    "evaluator",
    "fid",
    config=FidelityConfig,
    help="Fréchet Inception Distance through torch-fidelity, reference statistics cached",
)
def build_fid(config: FidelityConfig, context: BuildContext) -> FidelityEvaluator:
    return build_fidelity_evaluator("fid", FidEvaluator, config, context)


@component(
    "evaluator",
    "kid",
    config=KidConfig,
    help="Kernel Inception Distance through torch-fidelity (mean and std over subsets)",
)
def build_kid(config: KidConfig, context: BuildContext) -> FidelityEvaluator:
    return build_fidelity_evaluator("kid", KidEvaluator, config, context)


@component(
    "evaluator",
    "precision-recall",
    config=PrecisionRecallConfig,
    help="improved precision and recall (Kynkäänniemi et al. 2019) on Inception features",
)
def build_precision_recall(config: PrecisionRecallConfig, context: BuildContext) -> FidelityEvaluator:
    return build_fidelity_evaluator("precision-recall", PrecisionRecallEvaluator, config, context)
