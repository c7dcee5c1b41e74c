"""The ``swd`` and ``diversity`` evaluators: quality numbers that need no downloaded weights, so every run has one."""

from __future__ import annotations

import dataclasses

from ..common.config import param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext, ImageDataset, ReportSection, RunView, lower_is_better
from ..machine.memory import Need
from ..metrics import msssim, swd
from ..metrics.protocol import SAMPLING as SAMPLING_PROTOCOL
from ..metrics.reference import open_reference, reference_sample
from ..registry.registry import component
from ..rundir.rundir import RunDir
from .metric_base import MetricEvaluator, ScheduleConfig, Score, for_report_only, generated_images
from .metric_sections import diversity_section, swd_section


@dataclasses.dataclass
class SwdConfig(ScheduleConfig):
    num_samples: int = param(
        1024,
        "generated images, and as many real ones (fewer if the reference set is "
        "smaller); 128 patches are drawn from each",
        min=2,
    )

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """The generated images, made at once, as many real ones, and one pyramid level's float32 patches of
        both sides."""
        patches = 2 * swd.PATCHES_PER_IMAGE * swd.PATCH_SIZE**2 * context.channels * 4
        pixels = context.channels * context.image_size**2
        return [
            generated_images(
                "num_samples", self.num_samples, context, pixels + patches, ", as many real ones and their patches"
            )
        ]


@dataclasses.dataclass
class DiversityConfig(ScheduleConfig):
    num_pairs: int = param(1000, "random pairs of distinct images whose MS-SSIM is averaged, on each side", min=1)

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """The two generated images of every pair, made at once, and the pairs' int64 indices."""
        return [generated_images("num_pairs", 2 * self.num_pairs, context, 2 * 8, " and their pairs' indices")]


class SwdEvaluator(MetricEvaluator):
    """SWD per Laplacian level and its average: low-frequency levels track colour and layout, high ones detail."""

    name = "swd"
    metrics = (lower_is_better("swd"),)

    def __init__(self, config: SwdConfig, reference_set: ImageDataset | None, image_size: int | None = None):
        super().__init__(config.every)
        self.config = config
        self.reference_set = reference_set
        if image_size is not None:  # each level's score is logged too (swd_16px...), and may be an objective
            levels = (lower_is_better(f"swd_{size}px") for size in swd.level_sizes(image_size))
            self.metrics = (*SwdEvaluator.metrics, *levels)

    def scores(self, run: RunView) -> list[Score]:
        cfg = self.config
        sample = reference_sample(self.reference_set, run.dataset, cfg.num_samples, cfg.seed)
        real = sample.images()
        fake = run.generate(sample.count, seed=cfg.seed)
        per_level = swd.swd(real, fake, seed=cfg.seed)
        protocol = {
            "implementation": swd.IMPLEMENTATION,
            "patch_size": swd.PATCH_SIZE,
            "patches_per_image": swd.PATCHES_PER_IMAGE,
            "projections": swd.PROJECTION_REPEATS * swd.PROJECTIONS_PER_REPEAT,
            "min_level": swd.MIN_LEVEL,
            "scale": swd.SCALE,
            "num_generated": sample.count,
            "num_reference": sample.count,
            "reference": sample.fingerprint(),
            "reference_source": sample.label(),
            "seed": cfg.seed,
            "sampling": SAMPLING_PROTOCOL,
        }
        levels = [Score(f"swd_{size}px", value, protocol) for size, value in per_level.items()]
        average = sum(per_level.values()) / len(per_level)
        return [Score("swd", average, protocol), *levels]

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [swd_section(run_dir)]


class DiversityEvaluator(MetricEvaluator):
    """Mean MS-SSIM of random generated pairs beside that of real pairs; fakes far above reals means collapse."""

    name = "diversity"
    metrics = (lower_is_better("diversity"), lower_is_better("diversity_real"))

    def __init__(self, config: DiversityConfig, reference_set: ImageDataset | None):
        super().__init__(config.every)
        self.config = config
        self.reference_set = reference_set
        self._real: tuple[str, float] | None = None

    def scores(self, run: RunView) -> list[Score]:
        cfg = self.config
        sample = reference_sample(self.reference_set, run.dataset, 2 * cfg.num_pairs, cfg.seed)
        fingerprint = sample.fingerprint()
        if self._real is None or self._real[0] != fingerprint:
            self._real = (fingerprint, msssim.mean_pairwise_ms_ssim(sample.images(), cfg.num_pairs, cfg.seed))
        fake = msssim.mean_pairwise_ms_ssim(run.generate(2 * cfg.num_pairs, seed=cfg.seed), cfg.num_pairs, cfg.seed)
        size = run.dataset.image_size
        protocol = {
            "implementation": msssim.IMPLEMENTATION,
            "num_pairs": cfg.num_pairs,
            "scales": msssim.scales_for(size),
            "num_generated": 2 * cfg.num_pairs,
            "num_reference": sample.count,
            "reference": fingerprint,
            "reference_source": sample.label(),
            "seed": cfg.seed,
            "sampling": SAMPLING_PROTOCOL,
        }
        return [Score("diversity", fake, protocol), Score("diversity_real", self._real[1], protocol)]

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [diversity_section(run_dir)]


def _reference_for(config: ScheduleConfig, context: BuildContext, minimum: int, what: str) -> ImageDataset | None:
    """The evaluator's reference set (None: the training data), after checking the images are big enough."""
    if for_report_only(context):
        return None
    if context.image_size < minimum:
        raise ConfigError(
            "image_size",
            f"{what} needs images of at least {minimum}x{minimum} pixels, the data set has {context.image_size}",
        )
    return open_reference(config.reference, context)


@component(
    "evaluator",
    "swd",
    config=SwdConfig,
    help="sliced Wasserstein distance of Laplacian-pyramid patches (Karras et al. 2018); offline",
)
def build_swd(config: SwdConfig, context: BuildContext) -> SwdEvaluator:
    reference = _reference_for(config, context, swd.MIN_LEVEL, "the swd evaluator")
    size = context.image_size if isinstance(context.image_size, int) and context.image_size >= swd.MIN_LEVEL else None
    return SwdEvaluator(config, reference, size)


@component(
    "evaluator",
    "diversity",
    config=DiversityConfig,
    help="mean MS-SSIM of random generated pairs vs real pairs: a mode-collapse indicator; offline",
)
def build_diversity(config: DiversityConfig, context: BuildContext) -> DiversityEvaluator:
    return DiversityEvaluator(config, _reference_for(config, context, msssim.WINDOW, "the diversity evaluator"))
