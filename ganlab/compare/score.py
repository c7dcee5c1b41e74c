"""``ganlab score A B``: FID and the other feature scores between two sets of images, outside any run.

A and B are folders (or zip archives) of images, read as stored, as ``fidelity --input1 A --input2 B``,
``python -m pytorch_fid A B`` and clean-fid's ``compute_fid(A, B)`` read them; A may instead be a run
directory, whose generator then makes the images. Each side goes through the same Inception network,
the same on-disk cache of reference features (keyed by the folder's content) and the same formulas as
the metric evaluators, and each score carries the same protocol, so a number from ``ganlab score`` and one from
a run's ``fid`` evaluator are comparable exactly when their protocols say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from ..common.errors import ConfigError, GanlabError
from ..evaluators.density_coverage import DensityCoverageConfig, DensityCoverageEvaluator
from ..evaluators.fidelity import (
    FidelityConfig,
    FidelityEvaluator,
    FidEvaluator,
    KidConfig,
    KidEvaluator,
    PrecisionRecallConfig,
    PrecisionRecallEvaluator,
    reference_entry,
)
from ..evaluators.metric_base import Score
from ..loading.manager import Plugins
from ..machine.memory import Need, available_host_memory, refuse_if_too_big
from ..metrics.cache import ReferenceCache
from ..metrics.image_files import ImageFiles
from ..metrics.inception import FEATURE_BYTES, INPUT_BYTES, InceptionFeatures, inception_score, load_inception
from ..metrics.protocol import SAMPLING as SAMPLING_PROTOCOL
from ..metrics.reference import ReferenceSample
from ..metrics.weights import InceptionWeights, find_weights
from ..rundir.rundir import RunDir
from ..training import generate as generating

FEATURE_METRICS: dict[str, Callable[[InceptionFeatures, ReferenceCache], FidelityEvaluator]] = {
    "fid": lambda inception, cache: FidEvaluator("fid", FidelityConfig(), inception, None, cache),
    "kid": lambda inception, cache: KidEvaluator("kid", KidConfig(), inception, None, cache),
    "precision-recall": lambda inception, cache: PrecisionRecallEvaluator(
        "precision-recall", PrecisionRecallConfig(), inception, None, cache
    ),
    "density-coverage": lambda inception, cache: DensityCoverageEvaluator(
        "density-coverage", DensityCoverageConfig(), inception, None, cache
    ),
}
"""The evaluators whose scores need only the features of both sides, each with its default settings: ``ganlab
score`` calls their ``compute`` on its own images. (memorisation needs the training images themselves.)"""
INCEPTION_SCORE = "isc"
METRICS = (*FEATURE_METRICS, INCEPTION_SCORE)
"""What ``--metric`` takes: every feature-based evaluator's name, and Inception Score (of A alone)."""


@dataclasses.dataclass(frozen=True)
class ScoreRequest:
    first: Path  # a folder or archive of images, or a run directory
    second: Path | None  # the reference folder (not needed for isc alone)
    metrics: tuple[str, ...]
    weights_path: str = ""
    size: int | None = None  # centre-crop and resize every image to this side
    num: int = 10000  # images a run's generator makes
    seed: int = 0  # of those images' latents
    checkpoint: str | None = None  # of the run
    batch_size: int = 64
    device: torch.device = torch.device("cpu")


def is_run_directory(path: Path) -> bool:
    return path.is_dir() and (path / "meta.json").is_file() and (path / "checkpoints").is_dir()


def refuse_features_that_cannot_fit(key: str, count: int, what: str, batch_size: int, shape: tuple[int, ...]) -> None:
    """Refuse, before any image is read or made, a side whose Inception features (and the copy joining
    them) or whose batch (the images and Inception's inputs of them) cannot be held in memory: a
    ConfigError naming ``key`` or ``--batch-size``."""
    pixels = int(torch.Size(shape).numel())
    refuse_if_too_big(
        [
            Need(key, f"the Inception features of {count:,} {what}", count * 2 * FEATURE_BYTES),
            Need(
                "--batch-size",
                f"a batch of {batch_size:,} images of {'x'.join(map(str, shape))} and Inception's inputs of them",
                batch_size * (2 * pixels + INPUT_BYTES),
            ),
        ],
        available_host_memory(),
        "memory",
    )


def run_features(
    request: ScoreRequest, network: InceptionFeatures, plugins: Plugins, warn: Callable[[str], None]
) -> tuple[torch.Tensor, dict[str, object]]:
    """``network``'s features of ``request.num`` images of the run A names, and what the protocol says of them."""
    run = RunDir.open(request.first)
    generator, shape, labels = generating.load_generator(run, plugins, request.device, request.checkpoint, warn)
    if shape[0] not in (1, 3):
        raise GanlabError(f"A: the run's generator makes {shape[0]}-channel images; Inception reads RGB or grey")
    refuse_features_that_cannot_fit("--num", request.num, "generated images", request.batch_size, shape)
    batches = generating.image_batches(generator, request.num, request.seed, request.device, labels)
    features = network.of_batches(
        (b[i : i + request.batch_size] for b in batches for i in range(0, len(b), request.batch_size)), request.num
    )
    return features, {
        "generated": f"{request.first} ({request.num} images, seed {request.seed}"
        f"{', checkpoint ' + request.checkpoint if request.checkpoint else ''})",
        "sampling": SAMPLING_PROTOCOL,
        "num_generated": request.num,
        "seed": request.seed,
    }


def features_of_a(
    request: ScoreRequest,
    network: InceptionFeatures,
    cache: ReferenceCache,
    plugins: Plugins,
    warn: Callable[[str], None],
    progress: bool,
) -> tuple[torch.Tensor, dict[str, object]]:
    """``network``'s features of A (a run's generated images, or a folder's, cached as a reference's are)
    and what the protocol says of them."""
    if is_run_directory(request.first):
        return run_features(request, network, plugins, warn)
    images = ImageFiles(request.first, "A", request.size)
    refuse_features_that_cannot_fit("A", len(images), "images", request.batch_size, images.shape)
    sample = ReferenceSample(images, len(images), 0)
    features = reference_entry(network, sample, cache, request.batch_size, progress)["features"]
    return features, {
        "generated": sample.fingerprint(),
        "generated_source": sample.label(),
        "num_generated": sample.count,
    }


def score(request: ScoreRequest, plugins: Plugins, warn: Callable[[str], None], progress: bool = False) -> list[Score]:
    """Every requested score of A against B, each with its protocol."""
    unknown = [m for m in request.metrics if m not in METRICS]
    if unknown:
        raise ConfigError("--metric", f"unknown metric {unknown[0]!r}; one of: {', '.join(METRICS)}")
    weights = find_weights(request.weights_path)
    scores: list[Score] = []
    if INCEPTION_SCORE in request.metrics:
        scores.extend(inception_scores(request, weights, plugins, warn, progress))
    feature_metrics = [m for m in request.metrics if m != INCEPTION_SCORE]
    if not feature_metrics:
        return scores
    if request.second is None:
        raise GanlabError(f"B: {', '.join(feature_metrics)} compare A with a reference: give B, a folder of images")
    inception = load_inception(weights, request.device)
    cache = ReferenceCache()
    reference_images = ImageFiles(request.second, "B", request.size)
    refuse_features_that_cannot_fit(
        "B", len(reference_images), "reference images", request.batch_size, reference_images.shape
    )
    reference_sample = ReferenceSample(reference_images, len(reference_images), 0)
    reference = reference_entry(inception, reference_sample, cache, request.batch_size, progress)
    protocol = {
        **inception.protocol(),
        "num_reference": reference_sample.count,
        "reference": reference_sample.fingerprint(),
        "reference_source": reference_sample.label(),
    }
    generated, described = features_of_a(request, inception, cache, plugins, warn, progress)
    protocol.update(described)
    for name in feature_metrics:
        evaluator: FidelityEvaluator = FEATURE_METRICS[name](inception, cache)
        scores.extend(evaluator.compute(generated, reference, protocol))
    return scores


def inception_scores(
    request: ScoreRequest, weights: InceptionWeights, plugins: Plugins, warn: Callable[[str], None], progress: bool
) -> list[Score]:
    """Inception Score of A alone, from the network's class logits (torch-fidelity's isc, 10 splits)."""
    if not weights.has_logits:
        raise ConfigError(
            "--metric",
            f"isc (Inception Score) needs the network's classifier layer, and the "
            f"network in use ({weights.source}) has none: it is the FID network, which "
            "ends at the 2048-d pool features. Put torch-fidelity's official "
            "weights-inception-2015-12-05-6726825d.pth in the torch hub cache, or give "
            "it with --weights, to score isc",
        )
    logits_network = load_inception(weights, request.device, layer="logits_unbiased")
    logits, protocol = features_of_a(request, logits_network, ReferenceCache(), plugins, warn, progress)
    mean, std = inception_score(logits)
    return [Score(INCEPTION_SCORE, mean, {**logits_network.protocol(), **protocol}, std=std)]
