"""TensorBoard for ganlab: the ``tensorboard`` logger writes a run's numbers and sample grids into event
files as the run makes them, so a multi-hour run can be watched live (``tensorboard --logdir runs/``)
instead of waiting for its report.

Every numeric field of each step's record becomes a scalar under its own name (``loss_d``, ``loss_g``,
``d_real``, ``d_fake``, the learning rates, ``augment_p``, whatever the run's levers log), each
evaluation a scalar ``eval/<metric>``, and each progress grid an image (tag ``samples``), all at the
run's step. A resumed run reopens the same folder with ``purge_step`` just after its checkpoint's step,
so TensorBoard hides what the interrupted run had logged past it and shows each step once.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from ganlab import BuildContext, Logger, RunView, component, param

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


@dataclasses.dataclass
class TensorBoardConfig:
    log_dir: str = param("tensorboard", "folder of the event files, relative to the run directory (or absolute)")


@component(
    "logger",
    "tensorboard",
    config=TensorBoardConfig,
    help="TensorBoard event files: every logged number, evaluations as eval/<metric>, sample grids",
)
class TensorBoardLogger(Logger):
    def __init__(self, config: TensorBoardConfig, context: BuildContext):
        self.log_dir = config.log_dir
        self.writer: SummaryWriter | None = None

    def start(self, run: RunView) -> None:
        from torch.utils.tensorboard import SummaryWriter  # here, not when ganlab loads the plugins for any command

        if self.writer is not None:
            self.writer.close()
        # Steps are counted from 1 after each update, so the checkpoint's own step keeps what it logged.
        self.writer = SummaryWriter(str(run.run_dir.path / self.log_dir), purge_step=run.step + 1 if run.step else None)

    def log_steps(self, records: list[dict[str, float]]) -> None:
        for record in records:
            for key, value in record.items():
                if key != "step" and _is_number(value):
                    self.writer.add_scalar(key, value, record["step"])
        self.writer.flush()

    def log_evaluation(self, record: dict[str, Any]) -> None:
        self.writer.add_scalar(f"eval/{record['metric']}", record["value"], record["step"])
        self.writer.flush()

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="CHW")
        self.writer.flush()

    def finish(self, status: str) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
