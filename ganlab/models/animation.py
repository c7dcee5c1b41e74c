"""A latent walk as an animation: a GIF with Pillow (nothing extra to install; it plays in every browser),
or an MP4 through imageio's ffmpeg plugin (``pip install 'ganlab[video]'``)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import torch
from PIL import Image

from ..common.atomic import atomic_write_bytes
from ..common.errors import RunError
from ..page.grids import grid_image
from .extras import needed

ANIMATION_FORMATS = ("gif", "mp4")


def frames(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """One frame per step of a walk, uint8 ``(F, C, H, W)``: each frame the rows' images of that step one
    above the other (one row per condition) with the grids' 2 px padding; a single row's image alone."""
    return torch.stack([grid_image(torch.stack([row[i] for row in rows]), nrow=1) for i in range(len(rows[0]))])


def write_animation(
    images: torch.Tensor, path: Path, format: str, fps: int, text: Mapping[str, str] | None = None
) -> Path:
    """uint8 ``(F, C, H, W)`` frames as a looping GIF or an MP4 at ``fps`` frames a second, written
    atomically; a GIF carries ``text`` (how it was made) as JSON in its comment."""
    try:
        if format == "gif":
            atomic_write_bytes(path, gif_bytes(images, fps, text))
        else:
            write_mp4(images, path, fps)
    except OSError as e:
        raise RunError(f"cannot write the walk {str(path)!r}: {e.strerror or e}") from None
    return path


def gif_bytes(images: torch.Tensor, fps: int, text: Mapping[str, str] | None = None) -> bytes:
    """An animated GIF that loops for ever, every frame shown ``1/fps`` seconds (GIF counts in 10 ms)."""
    pictures = [Image.fromarray(frame.permute(1, 2, 0).numpy().squeeze()) for frame in images]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
        comment=json.dumps(dict(text or {})).encode(),
    )
    return buffer.getvalue()


def video_writer() -> ModuleType:
    """imageio's v3 interface, once imageio and its ffmpeg plugin are both installed (the ``video`` extra)."""
    needed("imageio_ffmpeg", "--format mp4")
    return needed("imageio.v3", "--format mp4")


def write_mp4(images: torch.Tensor, path: Path, fps: int) -> None:
    """H.264 through imageio's ffmpeg plugin, written beside ``path`` and renamed over it; the frame is
    padded with black to sides that are multiples of 16, which players expect of H.264 (imageio would
    otherwise resize it, blurring the pixels)."""
    imageio = video_writer()
    height, width = images.shape[-2:]
    padded = torch.nn.functional.pad(images, (0, -width % 16, 0, -height % 16))
    array = padded.permute(0, 2, 3, 1).numpy()
    if array.shape[-1] == 1:
        array = array.repeat(3, axis=-1)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # as a file opened for writing would be, not mkstemp's 0600
    try:
        imageio.imwrite(temporary, array, extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
