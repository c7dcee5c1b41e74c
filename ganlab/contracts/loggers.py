"""The contract of loggers: components that receive a run's records, evaluations and images as they
happen (TensorBoard, CSV files), for watching a long run live. They observe; they change nothing of how a
run trains, which is why they are not levers.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from .engine import RunView, Stateful


class Logger(Stateful, abc.ABC):
    """Base class for ``logger`` components (the recipe's ``[[loggers]]`` array): receives every logged
    record, every evaluation and every progress grid as it happens, for watching a multi-hour run live
    (TensorBoard, a CSV file) when the report is written only at its end. Loggers run in the main process
    only; they write under ``run.run_dir.path`` (a folder of their own) or wherever their config says.
    """

    @abc.abstractmethod
    def start(self, run: RunView) -> None:
        """Before the first step, and again after a resume: ``run.step`` is where the run continues, so a
        logger drops anything it had logged after that step (the run's own logs already have). Also before
        ``ganlab evaluate`` logs its scores, with ``run.step`` where the run's logs end."""

    @abc.abstractmethod
    def log_steps(self, records: list[dict[str, float]]) -> None:
        """Each step's logged numbers (``step``, ``epoch``, the losses, the scores, the levers' numbers,
        ``time``), a few steps at a time as the engine fetches them (every ``train.log_every`` steps)."""

    def log_evaluation(self, record: dict[str, Any]) -> None:
        """One evaluation as ``evaluations.jsonl`` records it: ``metric``, ``value``, ``step``, ``epoch``,
        ``time`` and its protocol."""

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """An image the run shows its user, uint8 ``(C, H, W)`` on the CPU: the progress grid (tag
        ``samples``) at each epoch's end."""

    def finish(self, status: str) -> None:
        """Once at the end, whatever the status (finished, failed, interrupted, diverged): flush and close.
        ``ganlab evaluate`` finishes the loggers it started with how the scoring ended."""
