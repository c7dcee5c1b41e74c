"""The ``density-coverage`` evaluator: density and coverage (Naeem et al. 2020) of the generated images against
the reference set, on the Inception features fid, kid and precision-recall use.

Density answers precision's question (are generated images where real ones are?) and coverage recall's
(is every part of the real data generated?), without precision's trust in real outliers, whose large
k-NN balls swallow bad samples, and with coverage's balls drawn around real samples only, so neither a
collapsed nor an outlying generator inflates it. The formulas are in :mod:`ganlab.metrics.neighbours`;
the reference features come from the same cache entry as the other Inception evaluators'.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..common.config import param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext, RunView, higher_is_better
from ..metrics.neighbours import density_coverage
from ..metrics.reference import ReferenceSample
from ..registry.registry import component
from .fidelity import FidelityConfig, FidelityEvaluator, build_fidelity_evaluator
from .metric_base import Score, for_report_only

IMPLEMENTATION = "ganlab-prdc/naeem2020"
"""ganlab's own code of the formulas (torch-fidelity has none): names them in the protocol."""


@dataclasses.dataclass
class DensityCoverageConfig(FidelityConfig):
    nearest_k: int = param(5, "k of the real images' k-nearest-neighbour balls (Naeem et al. 2020 use 5)", min=1)


def check_nearest_k(k: int, count: int, what: str) -> None:
    """A k-th nearest other real image needs k + 1 real images."""
    if k >= count:
        raise ConfigError("nearest_k", f"{k} nearest neighbours need at least {k + 1} real images; {what} {count}")


class DensityCoverageEvaluator(FidelityEvaluator):
    metrics = (higher_is_better("density"), higher_is_better("coverage"))

    def sample(self, run: RunView) -> ReferenceSample:
        sample = super().sample(run)
        check_nearest_k(self.config.nearest_k, sample.count, f"the reference {sample.label()} has")
        return sample

    def on_run_start(self, run: RunView) -> None:
        self.sample(run)  # too small a reference set stops the run now, not after its first epoch

    def compute(
        self, generated: torch.Tensor, reference: dict[str, torch.Tensor], protocol: dict[str, Any]
    ) -> list[Score]:
        k = self.config.nearest_k
        density, coverage = density_coverage(reference["features"], generated, k)
        protocol = {**protocol, "implementation": IMPLEMENTATION, "nearest_k": k, "higher_is_better": True}
        return [Score("density", density, protocol), Score("coverage", coverage, protocol)]


@component(
    "evaluator",
    "density-coverage",
    config=DensityCoverageConfig,
    help="density and coverage (Naeem et al. 2020) on Inception features: fidelity and diversity that "
    "real outliers do not inflate",
)
def build(config: DensityCoverageConfig, context: BuildContext) -> FidelityEvaluator:
    if not for_report_only(context):
        check_nearest_k(config.nearest_k, config.num_reference, "num_reference is")
    return build_fidelity_evaluator("density-coverage", DensityCoverageEvaluator, config, context)
