"""The memorisation evaluator's evidence: the generated images closest to being copies, each beside its nearest
training image, kept in the run directory so the report can show them.

A number like "3% memorised" is worth little without seeing what was counted, and the pixels are gone once
the evaluation ends; so each evaluation writes one PNG per pair (generated left, training right) under
``evaluators/memorisation/``, named by its content, and then one record in ``closest_pairs.jsonl`` naming them
with their ratios. A resume drops the records of the steps it repeats, as for every log; the report shows
the latest record's pairs, read from those files alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import TYPE_CHECKING, Any

import torch

from ..common.atomic import atomic_write_bytes
from ..metrics.neighbours import NearestTraining
from ..metrics.reference import ReferenceSample, images_at
from ..page import html as h
from ..page.grids import grid_png
from ..rundir.records import INTEGER, NUMBER, OBJECTS, Check, Shape
from .samples import display_width
from .store import EvaluatorFiles

if TYPE_CHECKING:
    from ..rundir.rundir import RunDir

EVALUATOR = "memorisation"
FILES = EvaluatorFiles(EVALUATOR)
LOG = "closest_pairs.jsonl"
PAIR_IMAGE = re.compile(r"pair-[0-9a-f]{16}\.png")
DISPLAY_WIDTH = 180
"""About how wide each pair appears in the report, in CSS pixels."""

PAIR = Shape(
    required={
        "image": Check(
            "a pair-<hash>.png file name", lambda v: isinstance(v, str) and PAIR_IMAGE.fullmatch(v) is not None
        ),
        "ratio": NUMBER,
        "distance": NUMBER,
        "generated": INTEGER,
        "training": INTEGER,
    }
)
"""One pair of a record: only a file name this module writes is read back, never a path a hand-edited
log might slip in."""
RECORD = Shape(required={"step": INTEGER, "pairs": OBJECTS}, optional={"epoch": INTEGER, "threshold": NUMBER})


@dataclasses.dataclass(frozen=True)
class Pair:
    generated: int  # position among the evaluation's generated images
    training: int  # index of the nearest training image in the data set
    distance: float  # between their Inception features
    ratio: float  # the copy ratio (ganlab.metrics.neighbours.nearest_training)


def closest_pairs(found: NearestTraining, sample: ReferenceSample, count: int) -> list[Pair]:
    """The ``count`` generated images with the smallest copy ratios, smallest first."""
    rows = sample.indices()
    order = torch.argsort(found.ratio, stable=True)[:count].tolist()
    return [Pair(j, int(rows[found.index[j]]), float(found.distance[j]), float(found.ratio[j])) for j in order]


def save_pairs(
    run_dir: RunDir, pairs: list[Pair], generated: torch.Tensor, sample: ReferenceSample, **record: Any
) -> None:
    """Write each pair's PNG, then the record naming them (with ``record``'s fields: step, epoch, threshold),
    so a record never names a file that was not written."""
    training = images_at(sample.dataset, torch.tensor([pair.training for pair in pairs]))
    entries = []
    for pair, real in zip(pairs, training):
        png = grid_png(torch.stack([generated[pair.generated], real]), nrow=2)
        name = f"pair-{hashlib.sha256(png).hexdigest()[:16]}.png"
        atomic_write_bytes(FILES.writable(run_dir, name), png)
        entries.append({"image": name, **dataclasses.asdict(pair)})
    FILES.append(run_dir, LOG, [{**record, "pairs": entries}])


def pairs_html(run_dir: RunDir) -> str:
    """The latest evaluation's pairs, each captioned with its ratio and the training image's index."""
    records = FILES.read(run_dir, LOG, RECORD)
    if not records:
        return h.paragraph("No closest pairs saved yet.", "note")
    latest = records[-1]
    threshold = latest.get("threshold")
    figures = []
    for pair in latest["pairs"]:
        if PAIR.problem(pair) is not None:
            continue
        copy = " (below the threshold)" if threshold is not None and pair["ratio"] < threshold else ""
        caption = f"ratio {pair['ratio']:.3g}{copy}; training image #{pair['training']}"
        path = FILES.path(run_dir, pair["image"])
        if not path.is_file():
            figures.append(h.figure(h.paragraph("(image file missing)", "note"), caption))
            continue
        png = path.read_bytes()
        figures.append(
            h.figure(
                h.image(
                    png,
                    "image/png",
                    f"generated image beside training image #{pair['training']}",
                    pixelated=True,
                    width=display_width(png, DISPLAY_WIDTH),
                ),
                caption,
            )
        )
    intro = (
        f"The generated images nearest to being copies at step {latest['step']}: each on the left, its "
        "nearest training image (in Inception feature space) on the right, smallest ratio first."
    )
    return h.paragraph(intro) + f'<div class="row">{"".join(figures)}</div>'
