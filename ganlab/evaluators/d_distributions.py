"""``d-distributions``: how the discriminator scores real and generated images as training goes on.

At chosen epochs (and once before training) it scores a fixed batch of real images and a fresh batch of
generated ones, and stores every score (``run.discriminate``: the loss's scores, probabilities for BCE,
raw critic scores for WGAN). The report overlays the two distributions per measurement (the plot people
draw by hand to see whether D and G are balanced) and follows the mean D(x) and D(G(z)) over training,
with axes as the run's meta.json describes the scores (a ganlab.ScoreKind): 0 to 1 for probabilities,
fitted to the data for unbounded scores.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from ..common.config import param
from ..contracts.engine import BuildContext, Evaluator, ReportSection, RunView
from ..contracts.scores import ScoreKind
from ..page import html as h
from ..page.figures import COLORS, figure_image, finite, legend_below, mark_epochs, plot
from ..registry.registry import component
from ..rundir.records import INTEGER, NUMBERS, TEXT, Shape
from ..rundir.rundir import RunDir
from .series import auto_window, epoch_ends, metrics_frame, smooth, spread
from .store import EvaluatorFiles, latest_per_step

FILES = EvaluatorFiles("d-distributions")
SCORES = "scores.jsonl"
SCORE_RECORD = Shape(required={"label": TEXT, "step": INTEGER, "epoch": INTEGER, "real": NUMBERS, "fake": NUMBERS})
MAX_PANELS = 12


@dataclasses.dataclass
class DDistributionsConfig:
    epochs: list[int] = param([], "epochs after which to measure; empty measures after every epoch")
    num_images: int = param(256, "real and generated images scored at each measurement", min=2)


class DDistributions(Evaluator):
    name = "d-distributions"

    def __init__(self, config: DDistributionsConfig, seed: int):
        self.config = config
        self.seed = seed

    def on_run_start(self, run: RunView) -> None:
        if run.step == 0:
            self._measure(run, "before training", epoch=0)

    def on_epoch_end(self, run: RunView, epoch: int) -> None:
        if not self.config.epochs or epoch in self.config.epochs:
            self._measure(run, f"epoch {epoch}", epoch)

    def on_run_end(self, run: RunView, status: str) -> None:
        """A run stopped part way through an epoch (``max_steps``) is measured where it ended."""
        measured = {r["step"] for r in read_scores(run.run_dir)}
        if status == "finished" and run.step not in measured:
            self._measure(run, f"end (step {run.step})", run.epoch)

    def _measure(self, run: RunView, label: str, epoch: int) -> None:
        """Score the same real images every time and new fakes from a seed tied to the epoch; a conditional
        discriminator sees the real images' own labels and the labels the fakes were generated with (those
        of random real images: the data's label distribution)."""
        n = self.config.num_images
        real = run.discriminate(run.real_images(n, seed=self.seed), run.real_labels(n, seed=self.seed))
        fake_seed = self.seed + 1 + epoch
        labels = run.real_labels(n, seed=fake_seed)
        labels = labels[torch.arange(n) % len(labels)] if labels is not None else None  # n may exceed the data
        fake = run.discriminate(run.generate(n, seed=fake_seed, labels=labels), labels)
        FILES.append(
            run.run_dir,
            SCORES,
            [
                {
                    "label": label,
                    "step": run.step,
                    "epoch": epoch,
                    "real": [round(float(v), 5) for v in real],
                    "fake": [round(float(v), 5) for v in fake],
                }
            ],
        )

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        records = read_scores(run_dir)
        if not records:
            return [
                ReportSection(
                    "D(x) and D(G(z))",
                    h.paragraph("No measurement was taken (the run ended before its first one).", "note"),
                    30,
                )
            ]
        n = len(records[0]["real"])
        kind = ScoreKind.from_meta(run_dir.read_checked_meta())
        separated = (
            "the discriminator has won and the generator's gradients vanish."
            if kind.outright_win
            else "the discriminator tells them apart, though with this loss the generator still gets gradients."
        )
        body = (
            h.paragraph(
                f"{kind.meaning} Shown for the same {n} training images (green) and {n} newly generated ones "
                "(orange) at each measurement. While the two overlap, the generator is fooling the "
                f"discriminator some of the time and both keep learning; when they separate completely {separated}"
            )
            + _histograms(records, kind)
            + _means_over_training(run_dir, records, kind)
            + _means_table(records)
        )
        return [ReportSection("D(x) and D(G(z))", body, order=30)]


def read_scores(run_dir: RunDir) -> list[dict[str, Any]]:
    """Every measurement of scores.jsonl, one per step, in step order."""
    return latest_per_step(FILES.read(run_dir, SCORES, SCORE_RECORD))


def score_range(kind: ScoreKind, values: list[np.ndarray]) -> tuple[float, float]:
    """Where to draw scores of ``kind``: their bounds, and where they have none the span of ``values``."""
    seen = np.concatenate([finite(v) for v in values] + [np.array(kind.references, dtype=float)])
    low = kind.low if kind.low is not None else (float(seen.min()) if seen.size else 0.0)
    high = kind.high if kind.high is not None else (float(seen.max()) if seen.size else 1.0)
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _histograms(records: list[dict[str, Any]], kind: ScoreKind) -> str:
    import seaborn as sns  # on first use: see ganlab.page.figures

    shown = spread(records, MAX_PANELS)
    columns = min(len(shown), 4)
    rows = math.ceil(len(shown) / columns)
    span = score_range(kind, [r[key] for r in shown for key in ("real", "fake")])
    with plot(width=3.0 * columns, height=2.3 * rows + 0.4, nrows=rows, ncols=columns, squeeze=False, sharex=True) as (
        fig,
        axes,
    ):
        for ax, record in zip(axes.flat, shown):
            for key, role, label in (("real", "real", "D(x)"), ("fake", "fake", "D(G(z))")):
                values = finite(record[key])
                if values.size:
                    sns.histplot(
                        x=values,
                        ax=ax,
                        bins=25,
                        binrange=span,
                        stat="density",
                        element="step",
                        color=COLORS[role],
                        alpha=0.3,
                        label=label,
                        kde=bool(np.ptp(values) > 1e-6),
                        kde_kws={"clip": span},
                    )
            ax.set_title(record["label"])
            ax.set_xlim(*span)
            ax.set_ylabel("")
            ax.set_yticks([])
        for ax in list(axes.flat)[len(shown) :]:
            ax.set_visible(False)
        legend_below(fig, axes.flat[0])
        chart = figure_image(fig, "distributions of D(x) and D(G(z)) per measurement")
    caption = f"{kind.name.capitalize()} per measurement (histogram and density)."
    if len(shown) < len(records):
        caption += f" {len(shown)} of {len(records)} measurements shown, evenly spread; the table has all."
    return h.figure(chart, caption)


def _means_over_training(run_dir: RunDir, records: list[dict[str, Any]], kind: ScoreKind) -> str:
    frame = metrics_frame(run_dir)
    with plot(height=3.6) as (fig, ax):
        if not frame.empty:
            window = auto_window(len(frame))
            for key, role, label in (
                ("d_real", "real", "D(x), training batches"),
                ("d_fake", "fake", "D(G(z)), training batches"),
            ):
                ax.plot(
                    frame["step"], smooth(frame[key], window), color=COLORS[role], linewidth=1.2, alpha=0.7, label=label
                )
            mark_epochs(ax, epoch_ends(frame))
        steps = [r["step"] for r in records]
        for key, role, label in (("real", "real", "D(x), fixed batch"), ("fake", "fake", "D(G(z)), fixed batch")):
            ax.plot(
                steps,
                [_mean(r[key]) for r in records],
                "o",
                color=COLORS[role],
                markersize=6,
                markeredgecolor="black",
                label=label,
            )
        for reference in kind.references:
            ax.axhline(reference, color="black", linewidth=0.6)
        if kind.low is not None and kind.high is not None:
            margin = 0.02 * (kind.high - kind.low)
            ax.set_ylim(kind.low - margin, kind.high + margin)
        ax.set_xlabel("step (generator update)")
        ax.set_ylabel(f"mean {kind.name}")
        legend_below(fig, ax)
        chart = figure_image(fig, "mean D(x) and D(G(z)) over training")
    return h.figure(
        chart,
        "Mean D(x) and D(G(z)): lines are the training batches' means (measured before "
        "each discriminator update, smoothed); dots are the fixed-batch measurements.",
    )


def _mean(values: list[float]) -> float:
    kept = finite(values)
    return float(kept.mean()) if kept.size else math.nan


def _means_table(records: list[dict[str, Any]]) -> str:
    import pandas as pd  # on first use: see ganlab.page.figures

    frame = pd.DataFrame(
        [
            {
                "measurement": r["label"],
                "step": r["step"],
                "mean D(x)": _mean(r["real"]),
                "mean D(G(z))": _mean(r["fake"]),
                "gap": _mean(r["real"]) - _mean(r["fake"]),
            }
            for r in records
        ]
    )
    return h.details("All measurements", h.table(frame))


@component(
    "evaluator",
    "d-distributions",
    config=DDistributionsConfig,
    help="distributions of D(x) and D(G(z)) on fixed real and fresh generated images",
)
def build(config: DDistributionsConfig, context: BuildContext) -> DDistributions:
    return DDistributions(config, context.seed)
