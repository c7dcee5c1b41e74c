"""What every metric evaluator shares: a schedule, logging scores with their protocol, and a report table."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Literal

import torch

from ..common.config import param, seed_param
from ..common.errors import ConfigError
from ..contracts.engine import BuildContext, Evaluator, RunView
from ..machine.memory import Need


@dataclasses.dataclass(frozen=True)
class Score:
    metric: str
    value: float
    protocol: dict[str, Any]  # how it was made; the record adds metric, value, step, epoch
    std: float | None = None


def every_param() -> Any:
    """The ``every`` setting of a metric evaluator: how often it scores (:meth:`MetricEvaluator.on_epoch_end`)."""
    return param(1, "score the generator after every N epochs (the final model is always scored)", min=1)


@dataclasses.dataclass
class ScheduleConfig:
    every: int = every_param()
    reference: str = param(
        "auto",
        'real images to compare with: "auto" (the images the data set holds back '
        "from training, when data.num_images trains on a subset, else the training "
        'set), "held-out" (those, required), "data" (the training set) or a '
        "folder of images, centre-cropped and resized to the training size",
    )
    seed: int = seed_param(
        0,
        "seed of the latent vectors and of the real-image sample; fixed, so scores over "
        "training compare like with like",
    )


Device = Literal["auto", "cpu", "cuda", "mps"]


def generated_images(key: str, count: int, context: BuildContext, extra: int = 0, what: str = "") -> Need:
    """The host memory of ``count`` images that ``run.generate`` makes at once, uint8 at the data's shape, with
    ``extra`` bytes per image of what is computed from them (``what``), blamed on the setting ``key``."""
    pixels = context.channels * context.image_size**2
    return Need(
        key,
        f"{count:,} generated images of {context.channels}x{context.image_size}x{context.image_size}{what}",
        count * (pixels + extra),
    )


def for_report_only(context: BuildContext) -> bool:
    """Built without a data set: ``ganlab report`` rebuilds evaluators only for their sections, so a factory
    then skips what scoring needs (weights, Inception, a reference folder) and the checks that go with it."""
    return context.image_size is None


def resolve_device(setting: Device, run_device: torch.device) -> torch.device:
    """Where a metric's network runs: ``auto`` follows the run onto a GPU or Apple's MPS, else the CPU."""
    if setting == "auto":
        return torch.device(run_device.type if run_device.type in ("cuda", "mps") else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "'cuda' was asked for but no CUDA device is available")
    if setting == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device", "'mps' was asked for but Apple's MPS is not available")
    return torch.device(setting)


class MetricEvaluator(Evaluator, abc.ABC):
    """Scores the generator after every ``every`` epochs, and once more at the end if the last one wasn't.

    ``ganlab evaluate`` calls :meth:`evaluate` directly on a generator loaded from a checkpoint.
    """

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The names its scores are logged under."""
        return tuple(metric.name for metric in self.metrics)

    def __init__(self, every: int):
        self.every = every
        self._scored_step: int | None = None

    @abc.abstractmethod
    def scores(self, run: RunView) -> list[Score]:
        """Score ``run.generator`` as it is now."""

    def evaluate(self, run: RunView, **annotations: Any) -> list[Score]:
        """Score, and log each score with its protocol (plus ``annotations``) in evaluations.jsonl."""
        scores = self.scores(run)
        for score in scores:
            extra = {} if score.std is None else {"std": score.std}
            run.log_evaluation(score.metric, score.value, **extra, **score.protocol, **annotations)
        self._scored_step = run.step
        return scores

    def state_dict(self) -> dict[str, Any]:
        return {"scored_step": self._scored_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._scored_step = state.get("scored_step")

    def on_epoch_end(self, run: RunView, epoch: int) -> None:
        if epoch % self.every == 0:
            self.evaluate(run)

    def on_run_end(self, run: RunView, status: str) -> None:
        if status == "finished" and run.step > 0 and self._scored_step != run.step:
            self.evaluate(run)
