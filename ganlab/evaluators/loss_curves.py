"""``loss-curves``: the generator's and discriminator's loss at every step, raw and smoothed, and beside
them every other number the step records hold (learning rates, an augmentation's p, regularizer terms).

The data is metrics.jsonl, which the engine writes at every step, so this evaluator adds no files of its own.
"""

from __future__ import annotations

import dataclasses

from ..common.config import param
from ..contracts.engine import BuildContext, Evaluator, ReportSection
from ..page import html as h
from ..page.figures import COLORS, figure_image, legend_below, mark_epochs, plot
from ..registry.registry import component
from ..rundir.records import METRIC_LABELS
from ..rundir.rundir import RunDir
from .logged_numbers import logged_numbers_section
from .series import auto_window, epoch_ends, metrics_frame, smooth


@dataclasses.dataclass
class LossCurvesConfig:
    smoothing: int = param(0, "moving-average window in steps; 0 picks about a fiftieth of the run", min=0)


class LossCurves(Evaluator):
    name = "loss-curves"

    def __init__(self, config: LossCurvesConfig):
        self.config = config

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        frame = metrics_frame(run_dir)
        if frame.empty:
            return [ReportSection("Loss curves", h.paragraph("No training step was logged.", "note"), 20)]
        window = auto_window(len(frame), self.config.smoothing)
        with plot(height=3.8) as (fig, ax):
            for key, role, label in (("loss_d", "discriminator", "D"), ("loss_g", "generator", "G")):
                color = COLORS[role]
                ax.plot(frame["step"], frame[key], color=color, alpha=0.25, linewidth=0.8)
                ax.plot(frame["step"], smooth(frame[key], window), color=color, linewidth=2, label=f"loss {label}")
            mark_epochs(ax, epoch_ends(frame))
            ax.set_xlabel("step (generator update)")
            ax.set_ylabel("loss")
            legend_below(fig, ax)
            chart = figure_image(fig, "generator and discriminator loss per step")
        caption = (
            f"Faint: every step. Bold: moving average over {window} step{'s' if window > 1 else ''}. "
            "Dotted lines: ends of epochs."
        )
        per_epoch = frame.groupby("epoch")[list(METRIC_LABELS)].mean().reset_index().rename(columns=METRIC_LABELS)
        body = (
            h.figure(chart, caption)
            + h.paragraph(
                "In a healthy run both losses settle into a band and stay there; a generator "
                "loss that climbs steadily while the discriminator's falls towards zero means "
                "the discriminator is winning.",
                "note",
            )
            + h.details("Means per epoch", h.table(per_epoch))
        )
        numbers = logged_numbers_section(frame, window, order=21)
        return [ReportSection("Loss curves", body, order=20), *([numbers] if numbers else [])]


@component(
    "evaluator",
    "loss-curves",
    config=LossCurvesConfig,
    help="G and D loss per step, raw and smoothed, with epoch boundaries; every other logged number "
    "(learning rates, augment p, regularizer terms) in a panel of its own",
)
def build(config: LossCurvesConfig, context: BuildContext) -> LossCurves:
    return LossCurves(config)
