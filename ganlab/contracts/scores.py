"""Score kinds: what a loss's scores of the discriminator's outputs are (:class:`ScoreKind`) and when they
say the discriminator has won outright (:class:`OutrightWin`).

A module apart from :mod:`ganlab.contracts.engine` because training never acts on them: the engine only
checks that a loss declares one and records it in meta.json; the evaluators, the report and the
comparisons read it back.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class OutrightWin:
    """When a loss's logged scores say the discriminator has won outright (and the generator's gradients
    have vanished): sustained mean D(G(z)) below ``fake_below``, D(x) - D(G(z)) above ``gap_above`` and,
    unless it is None, a generator loss above ``generator_loss_above``. Training health flags it."""

    fake_below: float
    gap_above: float
    generator_loss_above: float | None = None


@dataclasses.dataclass(frozen=True)
class ScoreKind:
    """What the scores a loss makes of the discriminator's raw outputs are, for whoever reads them later:
    the logged ``d_real`` and ``d_fake``, ``run.discriminate``, the D(x)/D(G(z)) figures, training health.

    ``name`` labels axes ("probability 'real'", "critic score"); ``meaning`` is a sentence for the report.
    ``low`` and ``high`` bound the scores (None: unbounded, so figures fit the data); ``references`` are
    values worth a line in a figure (0.5 for a probability, the targets of a least-squares loss).
    ``outright_win`` is None for a loss whose generator keeps its gradients however far apart the scores
    are (WGAN, hinge, least squares): "the discriminator won outright" means nothing there.
    Saved in meta.json, so a report rebuilt later reads the run's scores as they were made.
    """

    name: str
    meaning: str
    low: float | None = None
    high: float | None = None
    references: tuple[float, ...] = ()
    outright_win: OutrightWin | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ScoreKind:
        """The kind a run recorded in its meta.json; a run from before ganlab recorded it logged
        probabilities (the sigmoid of D's outputs, whatever the loss), and one whose record is not
        readable is read as unbounded raw scores, which assumes nothing."""
        recorded = meta.get("scores")
        if recorded is None:
            return PROBABILITY
        try:
            win = recorded.get("outright_win")
            return cls(
                **{
                    **recorded,
                    "references": tuple(recorded.get("references", ())),
                    "outright_win": OutrightWin(**win) if win is not None else None,
                }
            )
        except (TypeError, AttributeError):
            return RAW_SCORE


RAW_SCORE = ScoreKind("score", "The discriminator's raw output (higher means 'real').")
"""What a loss's scores are unless it says otherwise: D's outputs as they are, unbounded."""

PROBABILITY = ScoreKind(
    "probability 'real'",
    "The discriminator's probability that an image is real (the sigmoid of its output).",
    low=0.0,
    high=1.0,
    references=(0.5,),
    outright_win=OutrightWin(fake_below=0.01, gap_above=0.7, generator_loss_above=5.0),
)
"""Scores of a loss on logits (BCE): D wins outright where D(G(z)) < 0.01, D(x) - D(G(z)) > 0.7 and the
non-saturating generator loss > 5 (D(G(z)) about 0.007 for a typical fake). The gap rather than D(x)
itself, so that one-sided label smoothing (which holds D(x) near 0.9) does not hide it. The lines sit
between a discriminator that is strong but still teaches (its generator's gradients have not vanished)
and the classic failure (D(G(z)) near 1e-4, generator loss past 10), so the flag means the failure."""
