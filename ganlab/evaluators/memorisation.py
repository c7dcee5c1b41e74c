"""The ``memorisation`` evaluator: whether the generator reproduces its training images.

For each generated image it finds the nearest training image in Inception feature space and the copy
ratio of Alaa et al. 2022 (:func:`ganlab.metrics.neighbours.nearest_training`): the distance to that
training image over the training image's own distance to its nearest other training image. Around 1 is
what a new sample of the data scores; well below 1, the generated image sits closer to one training image
than any other training image does: a near copy. It logs ``memorised_fraction``, the share of generated
images whose ratio is below ``threshold``, and ``nn_ratio_median``; the report shows the closest pairs
(:mod:`ganlab.evaluators.closest_pairs`).

The real side is the training data itself (``num_reference`` of it, all of it by default on data sets of
up to 10000 images), never a folder or the images a subset holds out: memorisation is about the images
the generator learnt from.
Its features are the reference features fid and the others use when their reference is the training data
with the same ``num_reference`` and ``seed``: one cache entry, featurised once.
"""

from __future__ import annotations

import dataclasses

from ..common.config import param, seed_param
from ..contracts.engine import BuildContext, ReportSection, RunView, higher_is_better, lower_is_better
from ..metrics.cache import ReferenceCache
from ..metrics.inception import InceptionFeatures
from ..metrics.neighbours import nearest_training
from ..registry.registry import component
from ..rundir.rundir import RunDir
from .closest_pairs import EVALUATOR, closest_pairs, pairs_html, save_pairs
from .fidelity import FidelityEvaluator, InceptionConfig, inception_for
from .metric_base import Score, every_param, for_report_only
from .metric_sections import ORDER, scores_html

IMPLEMENTATION = "ganlab-nn-ratio/alaa2022"
"""Names the copy ratio's definition in the protocol."""


@dataclasses.dataclass
class MemorisationConfig(InceptionConfig):
    num_reference: int = param(
        10000, "training images searched for each generated image's nearest (at most the whole data set)", min=2
    )
    every: int = every_param()
    seed: int = seed_param(
        0,
        "seed of the latent vectors and of the training-image sample; fixed, so scores "
        "over training compare like with like",
    )
    threshold: float = param(
        0.5,
        "copy ratio below which a generated image counts as memorised (1 is Alaa et "
        "al.'s authenticity test, which new samples of the data often fail)",
        min=0.01,
        max=1.0,
    )
    pairs: int = param(
        8, "closest pairs (smallest ratios) the report shows, generated beside training image", min=1, max=64
    )


class MemorisationEvaluator(FidelityEvaluator):
    metrics = (lower_is_better("memorised_fraction"), higher_is_better("nn_ratio_median"))

    def __init__(self, config: MemorisationConfig, inception: InceptionFeatures | None, cache: ReferenceCache):
        super().__init__(EVALUATOR, config, inception, None, cache)

    def scores(self, run: RunView) -> list[Score]:
        cfg = self.config
        sample = self.sample(run)
        training = self.reference(sample, run.progress)["features"]
        images = run.generate(cfg.num_samples, seed=cfg.seed)  # the closest pairs show their pixels
        found = nearest_training(self.generated(run, images), training)
        save_pairs(
            run.run_dir,
            closest_pairs(found, sample, cfg.pairs),
            images,
            sample,
            step=run.step,
            epoch=run.epoch,
            threshold=cfg.threshold,
        )
        protocol = {**self.protocol(sample), "implementation": IMPLEMENTATION}
        memorised = float((found.ratio < cfg.threshold).double().mean())
        return [
            Score("memorised_fraction", memorised, {**protocol, "threshold": cfg.threshold, "higher_is_better": False}),
            Score("nn_ratio_median", float(found.ratio.median()), protocol),
        ]

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [
            ReportSection(
                "memorisation: closest training images and scores",
                pairs_html(run_dir) + scores_html(run_dir, self.metric_names),
                ORDER + 4,
            )
        ]


@component(
    "evaluator",
    EVALUATOR,
    config=MemorisationConfig,
    help="nearest training image of each generated one in Inception features: the share of near "
    "copies (Alaa et al. 2022's ratio below a threshold), the closest pairs shown in the report",
)
def build(config: MemorisationConfig, context: BuildContext) -> MemorisationEvaluator:
    if for_report_only(context):
        return MemorisationEvaluator(config, None, ReferenceCache())
    return MemorisationEvaluator(config, inception_for(config, context), ReferenceCache())
