"""``samples``: the fixed-noise grids the engine saves after every epoch, an animated GIF of them, and
a grid of real training images to compare against.

Because the grids always use the same latent vectors, the GIF shows the same faces forming over
training. A conditional run's grids have one row per condition, the same latents across rows; the engine
lists the rows' conditions in ``samples/rows.json`` and the report captions the grid with them. The GIF is
written to ``evaluators/samples/evolution.gif`` when the run ends, for sharing, and drawn again from the grids
for the report, so a run that was killed still gets one.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..common.atomic import atomic_write_bytes
from ..common.config import param
from ..common.files import read_json
from ..contracts.engine import BuildContext, Evaluator, ReportSection, RunView
from ..page import html as h
from ..page.grids import grid_png
from ..registry.registry import component
from ..rundir.rundir import RunDir
from .series import spread
from .store import EvaluatorFiles

FILES = EvaluatorFiles("samples")
REAL = "real.png"
GIF = "evolution.gif"
GIF_COLORS = 128
"""Colours per GIF frame: half of GIF's 256 keeps faces smooth and the file (embedded in every report)
about half the size, since LZW compresses noisy sample grids poorly."""
DISPLAY_WIDTH = 440
"""About how wide the main grids appear in the report, in CSS pixels."""


@dataclasses.dataclass
class SamplesConfig:
    gif_frame_ms: int = param(500, "how long each epoch's grid is shown in the GIF, in milliseconds", min=20)
    gif_max_frames: int = param(60, "most frames in the GIF; longer runs use evenly spread epochs", min=2)
    timeline: int = param(4, "grids from earlier epochs shown beside the final one in the report", min=0)


def evolution_gif(grids: list[tuple[int, Path]], frame_ms: int) -> bytes:
    """An animated GIF of the grids at their own size, each labelled with its epoch; the last frame lingers."""
    font = ImageFont.load_default(size=11)
    frames = []
    for epoch, path in grids:
        with Image.open(path) as grid:
            grid = grid.convert("RGB")
        frame = Image.new("RGB", (grid.width, grid.height + 14), "white")
        frame.paste(grid, (0, 0))
        ImageDraw.Draw(frame).text((2, grid.height + 1), f"epoch {epoch}", fill="black", font=font)
        frames.append(frame.quantize(colors=GIF_COLORS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 4]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buffer.getvalue()


class Samples(Evaluator):
    name = "samples"

    def __init__(self, config: SamplesConfig, seed: int):
        self.config = config
        self.seed = seed

    def on_run_start(self, run: RunView) -> None:
        path = FILES.writable(run.run_dir, REAL)
        if not path.exists():
            atomic_write_bytes(path, grid_png(run.real_images(run.recipe.train.grid_size, seed=self.seed)))

    def on_run_end(self, run: RunView, status: str) -> None:
        grids = spread(run.run_dir.sample_grids(), self.config.gif_max_frames)
        if grids:
            atomic_write_bytes(FILES.writable(run.run_dir, GIF), evolution_gif(grids, self.config.gif_frame_ms))

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        return [self._samples_section(run_dir), self._real_section(run_dir)]

    def _samples_section(self, run_dir: RunDir) -> ReportSection:
        grids = run_dir.sample_grids()
        if not grids:
            return ReportSection(
                "Samples",
                h.paragraph("No sample grid was saved: the run ended before its first epoch did.", "note"),
                order=40,
            )
        last_epoch, last_path = grids[-1]
        final = h.figure(
            h.image(
                last_path.read_bytes(),
                "image/png",
                f"samples after epoch {last_epoch}",
                pixelated=True,
                width=display_width(last_path),
            ),
            f"After epoch {last_epoch}: the same latent vectors in every grid." + rows_caption(run_dir),
        )
        gif = evolution_gif(spread(grids, self.config.gif_max_frames), self.config.gif_frame_ms)
        animation = h.figure(
            h.image(
                gif,
                "image/gif",
                "the generator's samples over training",
                pixelated=True,
                width=display_width(last_path),
            ),
            f"Evolution from epoch {grids[0][0]} to {last_epoch}, {len(grids)} grids (loops).",
        )
        earlier = spread(grids[:-1], self.config.timeline)
        timeline = "".join(
            h.figure(
                h.image(p.read_bytes(), "image/png", f"samples after epoch {e}", pixelated=True, width=180),
                f"epoch {e}",
            )
            for e, p in earlier
        )
        body = f'<div class="row">{final}{animation}</div>'
        if timeline:
            body += f'<h3>Earlier epochs</h3><div class="row">{timeline}</div>'
        return ReportSection("Samples", body, order=40)

    def _real_section(self, run_dir: RunDir) -> ReportSection:
        path = FILES.path(run_dir, REAL)
        if not path.exists():
            body = h.paragraph("No grid of real images was saved.", "note")
        else:
            body = h.figure(
                h.image(
                    path.read_bytes(), "image/png", "real training images", pixelated=True, width=display_width(path)
                ),
                "Real training images, prepared exactly as the discriminator sees them.",
            )
        return ReportSection("Real images", body, order=45)


def rows_caption(run_dir: RunDir) -> str:
    """For a conditional run's grids, the condition of each row, top to bottom; empty for another run's
    (or when the list is unreadable, which only costs the caption)."""
    try:
        rows = read_json(run_dir.grid_rows_path)
    except (OSError, ValueError):
        return ""
    if not isinstance(rows, list) or not rows:
        return ""
    return (
        " One row per condition, the same latents in each row; rows from the top: "
        + "; ".join(f"{i + 1}. {row}" for i, row in enumerate(map(str, rows)))
        + "."
    )


def display_width(grid: Path | bytes, target: int = DISPLAY_WIDTH) -> int:
    """The width that enlarges a small grid (a PNG file or its bytes) by a whole factor, so its pixels stay
    crisp, to about ``target``."""
    with Image.open(io.BytesIO(grid) if isinstance(grid, bytes) else grid) as image:
        return image.width * max(1, round(target / image.width))


@component(
    "evaluator",
    "samples",
    config=SamplesConfig,
    help="fixed-noise grids per epoch, an animated GIF of them, and real images for reference",
)
def build(config: SamplesConfig, context: BuildContext) -> Samples:
    return Samples(config, context.seed)
