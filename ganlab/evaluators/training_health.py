"""``training-health``: spot the ways GAN training fails, say when each began, and what to try.

Three checks, each a pure function of files in the run directory:

- non-finite losses (from metrics.jsonl);
- the discriminator winning outright, sustained for ``patience`` steps, as the run's loss defines it
  (its :class:`ganlab.OutrightWin`, recorded in meta.json): for BCE D(x) high, D(G(z)) near zero and the
  generator's loss large (the classic DCGAN failure on CelebA); never for a loss whose generator keeps its
  gradients however far apart the scores are (WGAN, hinge, least squares);
- collapse of sample diversity: after each epoch the evaluator compares how different generated images are
  from one another with how different real images are (evaluators/training-health/diversity.jsonl).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..common.atomic import atomic_write_text
from ..common.config import param
from ..contracts.engine import BuildContext, Evaluator, ReportSection, RunView
from ..contracts.scores import OutrightWin, ScoreKind
from ..page import html as h
from ..page.figures import COLORS, figure_image, legend_below, plot
from ..registry.registry import component
from ..rundir.records import INTEGER, NUMBER, Shape
from ..rundir.rundir import RunDir
from .series import metrics_frame, smooth
from .store import EvaluatorFiles, latest_per_step

if TYPE_CHECKING:
    import pandas as pd

FILES = EvaluatorFiles("training-health")
DIVERSITY = "diversity.jsonl"
DIVERSITY_RECORD = Shape(
    required={"epoch": INTEGER, "step": INTEGER, "ratio": NUMBER},
    optional={"real_distance": NUMBER, "fake_distance": NUMBER},
)
FLAGS = "flags.json"
DIVERSITY_SIZE = 16
"""Images are compared after average-pooling to at most this side: coarse structure, not pixel noise."""


@dataclasses.dataclass
class TrainingHealthConfig:
    patience: int = param(100, "steps a failure must last before it is flagged", min=1)
    collapse_ratio: float = param(
        0.35,
        "flag collapse when generated images differ from one another less than this fraction of what real images do",
        min=0.0,
        max=1.0,
    )
    num_images: int = param(128, "real and generated images compared for diversity after each epoch", min=4)


@dataclasses.dataclass(frozen=True)
class Flag:
    """One detected problem, in words a user can act on."""

    check: str
    title: str
    step: int
    evidence: str
    explanation: str
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean Euclidean distance between every two images of a uint8 batch, on a coarse pooled copy."""
    x = images.float() / 255.0
    side = x.shape[-1]
    if side > DIVERSITY_SIZE:
        x = F.adaptive_avg_pool2d(x, DIVERSITY_SIZE)
    distances = torch.pdist(x.flatten(1))
    return float(distances.mean()) if distances.numel() else 0.0


def nonfinite_flag(frame: pd.DataFrame) -> Flag | None:
    bad = frame[frame[["loss_d", "loss_g"]].isna().any(axis=1)]
    if bad.empty:
        return None
    step = int(bad["step"].iloc[0])
    return Flag(
        "non-finite",
        "Losses became NaN or infinite",
        step,
        f"first non-finite loss at step {step}",
        "Some number in training overflowed or was divided by zero; from then on the weights are "
        "meaningless and the run cannot continue.",
        "Resume from the last checkpoint with lower learning rates; check that the data is scaled to [-1, 1]; "
        "a loss that needs more than logits (a gradient penalty) may need a smaller weight.",
    )


def discriminator_wins_flag(frame: pd.DataFrame, patience: int, win: OutrightWin | None) -> Flag | None:
    """The first stretch of at least ``patience`` steps where the smoothed numbers say D has won, as the
    loss's ``win`` defines it (None: it cannot win outright)."""
    if frame.empty or win is None:
        return None
    window = max(5, patience // 5)
    d_real, d_fake, loss_g = (smooth(frame[k], window) for k in ("d_real", "d_fake", "loss_g"))
    winning = (d_fake < win.fake_below) & (d_real - d_fake > win.gap_above)
    if win.generator_loss_above is not None:
        winning &= loss_g > win.generator_loss_above
    winning = winning.to_numpy()
    streak = next((s for s in streaks(winning) if s.stop - s.start >= patience), None)
    if streak is None:
        return None
    step = int(frame["step"].iloc[streak.start])
    until = (
        "to the end of the run"
        if streak.stop == len(frame)
        else f"until step {int(frame['step'].iloc[streak.stop - 1])}, when the generator recovered"
    )
    early = frame["loss_g"].iloc[: max(1, streak.start // 4)].mean()
    return Flag(
        "discriminator-wins",
        "The discriminator won outright",
        step,
        f"from step {step} {until}: D(x) about {d_real.iloc[streak].mean():.2f}, D(G(z)) about "
        f"{d_fake.iloc[streak].mean():.3f}, generator loss about {loss_g.iloc[streak].mean():.1f} "
        f"(it was about {early:.1f} early on)",
        "The discriminator tells real from generated images perfectly, so the generator's gradients carry "
        "almost no information and its loss grows: the classic way DCGAN training on faces fails. The "
        "samples usually stop improving or degrade from here.",
        "Keep one-sided label smoothing on (loss.real_label = 0.9); lower the discriminator's learning rate "
        "or raise the generator's; use fewer discriminator features; resume from a checkpoint before this "
        "step with those changes rather than training on.",
    )


def collapse_flag(records: list[dict[str, Any]], ratio: float) -> Flag | None:
    """Diversity that was lost (low twice in a row after a healthy measurement) or never regained.

    Fresh generators make near-identical images, so low diversity in the first epochs is only a problem
    if it lasts to the end of the run.
    """
    low = np.array([r["ratio"] < ratio for r in records], dtype=bool)
    streak = next((s for s in streaks(low) if s.stop == len(low) or (s.start > 0 and s.stop - s.start >= 2)), None)
    if streak is None:
        return None
    record = records[streak.start]
    lost = "lost" if streak.start > 0 else "never reached"
    return Flag(
        "collapse",
        "Generated samples lack diversity",
        int(record["step"]),
        f"after epoch {record['epoch']}, two generated images differ on average {record['ratio']:.0%} as much "
        f"as two real images do (threshold {ratio:.0%}); the generator {lost} the variety of the data"
        + (" and had not regained it when the run ended" if streak.stop == len(low) else ""),
        "The generator makes the same few images whatever its input (mode collapse): it has found outputs "
        "that fool the current discriminator and stopped covering the variety of the data.",
        "Lower the learning rates, keep label smoothing, try a smaller batch; if the samples also stopped "
        "improving, resume from a checkpoint before this epoch.",
    )


def streaks(mask: np.ndarray) -> list[slice]:
    """The maximal runs of consecutive True entries of ``mask``, as slices, in order."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [slice(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def read_diversity(run_dir: RunDir) -> list[dict[str, Any]]:
    """Every diversity measurement, one per step, in step order."""
    return latest_per_step(FILES.read(run_dir, DIVERSITY, DIVERSITY_RECORD))


def outright_win(run_dir: RunDir) -> OutrightWin | None:
    """What winning outright means for the run's loss, as it recorded in meta.json."""
    return ScoreKind.from_meta(run_dir.read_checked_meta()).outright_win


def detect(run_dir: RunDir, config: TrainingHealthConfig) -> list[Flag]:
    frame = metrics_frame(run_dir)
    win = outright_win(run_dir)
    flags = [
        nonfinite_flag(frame),
        discriminator_wins_flag(frame, config.patience, win),
        collapse_flag(read_diversity(run_dir), config.collapse_ratio),
    ]
    return sorted((f for f in flags if f is not None), key=lambda f: f.step)


class TrainingHealth(Evaluator):
    name = "training-health"

    def __init__(self, config: TrainingHealthConfig, seed: int):
        self.config = config
        self.seed = seed

    def on_epoch_end(self, run: RunView, epoch: int) -> None:
        n = self.config.num_images
        real = mean_pairwise_distance(run.real_images(n, seed=self.seed))
        fake = mean_pairwise_distance(run.generate(n, seed=self.seed + 1 + epoch))
        FILES.append(
            run.run_dir,
            DIVERSITY,
            [
                {
                    "epoch": epoch,
                    "step": run.step,
                    "real_distance": round(real, 6),
                    "fake_distance": round(fake, 6),
                    "ratio": round(fake / real, 6) if real > 0 else math.nan,
                }
            ],
        )

    def on_run_end(self, run: RunView, status: str) -> None:
        """Leave the verdict where scripts (and ``ganlab compare``) can read it without the report."""
        flags = [f.to_dict() for f in detect(run.run_dir, self.config)]
        atomic_write_text(FILES.writable(run.run_dir, FLAGS), json.dumps(flags, indent=2) + "\n")

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        flags = detect(run_dir, self.config)
        diversity = read_diversity(run_dir)
        if flags:
            tone = "bad" if any(f.check == "non-finite" for f in flags) else "warn"
            headline = (
                h.badge(f"{len(flags)} problem{'s' if len(flags) > 1 else ''}", tone)
                + " "
                + h.escape("; ".join(f"{f.title.lower()} (step {f.step})" for f in flags))
            )
            body = "".join(_flag_html(f, tone) for f in flags)
        else:
            headline = h.badge("no problems found", "ok")
            body = (
                '<div class="flag ok"><h3>No problems found</h3>'
                f"{h.paragraph(_checked(diversity, self.config, outright_win(run_dir)))}</div>"
            )
        if diversity:
            body += _diversity_chart(diversity, self.config.collapse_ratio)
        return [ReportSection("Training health", body, order=5, summary=(("health", headline),))]


def _flag_html(flag: Flag, tone: str) -> str:
    return (
        f'<div class="flag {tone}"><h3>{h.escape(flag.title)}, from step {flag.step}</h3>'
        f"{h.paragraph(flag.evidence)}{h.paragraph(flag.explanation)}"
        f"<p><strong>What to try:</strong> {h.escape(flag.advice)}</p></div>"
    )


def _checked(diversity: list[dict[str, Any]], config: TrainingHealthConfig, win: OutrightWin | None) -> str:
    text = "Losses stayed finite, and " + (
        f"the discriminator never won outright for {config.patience} steps or more."
        if win is not None
        else "this loss's generator keeps its gradients however well the discriminator separates real from "
        "generated images, so there is no outright win to look for."
    )
    if diversity:
        last = diversity[-1]
        text += (
            f" After epoch {last['epoch']} generated images differ from one another {last['ratio']:.0%} "
            "as much as real images do."
        )
    return text


def _diversity_chart(records: list[dict[str, Any]], ratio: float) -> str:
    from matplotlib.ticker import MaxNLocator  # on first use: see ganlab.page.figures

    with plot(width=7.0, height=2.8) as (fig, ax):
        ax.plot([r["epoch"] for r in records], [r["ratio"] for r in records], "o-", color=COLORS["fake"])
        ax.axhline(ratio, color=COLORS["generator"], linestyle="--", linewidth=1, label="collapse threshold")
        ax.axhline(1.0, color=COLORS["real"], linewidth=1, label="as diverse as real images")
        ax.set_ylim(0, max(1.2, max((r["ratio"] for r in records if math.isfinite(r["ratio"])), default=1) + 0.1))
        ax.set_xlabel("epoch")
        ax.set_ylabel("diversity vs real")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        legend_below(fig, ax)
        chart = figure_image(fig, "diversity of generated images relative to real images")
    return h.figure(
        chart,
        "Mean distance between two generated images divided by that between two real "
        "images (both on 16x16 pooled copies); 1 means as varied as the data.",
    )


@component(
    "evaluator",
    "training-health",
    config=TrainingHealthConfig,
    help="flags non-finite losses, a discriminator that wins outright, and collapsed diversity",
)
def build(config: TrainingHealthConfig, context: BuildContext) -> TrainingHealth:
    return TrainingHealth(config, context.seed)
