"""The image operations both augmentations are made of, each applied to a whole batch at once with its own
parameters per image (no Python loop over images) and differentiable with respect to the images.

The parameters come in as tensors of shape ``(N,)``, already drawn; :func:`per_image` draws them the way
:class:`ganlab.Augment` requires, so that several processes and a resumed run draw what one uninterrupted
process would.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganlab import draw_for_global_batch


def per_image(sampler: Callable[..., torch.Tensor], images: torch.Tensor, columns: int) -> torch.Tensor:
    """``(N, columns)`` random numbers for the ``N`` images of this process's share of the batch, from
    ``sampler`` (``torch.rand`` or ``torch.randn``) on the default generator of the images' device."""
    return draw_for_global_batch(lambda n: sampler(n, columns, device=images.device), images.shape[0])


def _each(values: torch.Tensor) -> torch.Tensor:
    """Per-image values ``(N,)`` shaped to broadcast over ``(N, C, H, W)``."""
    return values.view(-1, 1, 1, 1)


def brightness(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Add ``shift`` to every pixel of each image."""
    return images + _each(shift.to(images.dtype))


def saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's distance from its grey (the mean of its channels) by ``factor``: 0 makes the
    image grey, 1 leaves it, above 1 makes colours stronger. A one-channel image is left as it is."""
    grey = images.mean(dim=1, keepdim=True)
    return (images - grey) * _each(factor.to(images.dtype)) + grey


def contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each image's distance from its mean value by ``factor``."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * _each(factor.to(images.dtype)) + mean


def _pixel_grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column index of every pixel, ``(1, H, 1)`` and ``(1, 1, W)``, to broadcast per image."""
    height, width = images.shape[-2:]
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    return rows, cols


def _gather(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``out[n, c, i, j] = images[n, c, rows[n, i, j], cols[n, i, j]]`` for index maps of shape
    ``(N, H, W)``: every geometric operation is one such remapping of pixels."""
    n, channels, height, width = images.shape
    index = (rows * width + cols).expand(n, height, width).reshape(n, 1, height * width)
    flat = images.reshape(n, channels, height * width)
    return flat.gather(2, index.expand(n, channels, height * width)).view(n, channels, height, width)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Fold indices that fall outside ``[0, size)`` back in as a mirror would (``-1`` is ``1``)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    folded = index.remainder(period)
    return torch.where(folded < size, folded, period - folded)


def translate(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, fill: str) -> torch.Tensor:
    """Move each image's content down by ``rows`` and right by ``cols`` whole pixels (integer tensors
    ``(N,)``, negative for up and left). What is uncovered is filled with 0 (mid-grey in [-1, 1]) for
    ``fill="zero"``, or with the image mirrored across the border it moved away from for ``"reflect"``."""
    height, width = images.shape[-2:]
    grid_rows, grid_cols = _pixel_grid(images)
    source_rows = grid_rows - rows.view(-1, 1, 1)
    source_cols = grid_cols - cols.view(-1, 1, 1)
    if fill == "reflect":
        return _gather(images, _reflect(source_rows, height), _reflect(source_cols, width))
    inside = (source_rows >= 0) & (source_rows < height) & (source_cols >= 0) & (source_cols < width)
    moved = _gather(images, source_rows.clamp(0, height - 1), source_cols.clamp(0, width - 1))
    return moved * inside.unsqueeze(1).to(images.dtype)


def cutout(
    images: torch.Tensor, centre_rows: torch.Tensor, centre_cols: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Set to 0 a ``size`` (height, width) rectangle of each image centred on the integer pixel position
    ``(centre_rows, centre_cols)``, which may lie up to the image's border: there the rectangle is cut."""
    grid_rows, grid_cols = _pixel_grid(images)
    top = centre_rows.view(-1, 1, 1) - size[0] // 2
    left = centre_cols.view(-1, 1, 1) - size[1] // 2
    hole = (grid_rows >= top) & (grid_rows < top + size[0]) & (grid_cols >= left) & (grid_cols < left + size[1])
    return images * (~hole).unsqueeze(1).to(images.dtype)


def xflip(images: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """Mirror left to right the images where ``flipped`` (bool ``(N,)``) is true."""
    return torch.where(_each(flipped), images.flip(3), images)


def rotate90(images: torch.Tensor, quarters: torch.Tensor) -> torch.Tensor:
    """Rotate each square image counter-clockwise by ``quarters`` (integers 0 to 3) quarter turns, as
    ``torch.rot90`` over the last two dimensions would."""
    height, width = images.shape[-2:]
    if height != width:
        raise ValueError(f"90-degree rotations need square images, got {height}x{width}")
    last = height - 1
    i, j = _pixel_grid(images)
    i, j = i.expand(1, height, width), j.expand(1, height, width)
    k = quarters.view(-1, 1, 1)
    # where each output pixel comes from after k quarter turns
    rows = torch.where(k == 0, i, torch.where(k == 1, j, torch.where(k == 2, last - i, last - j)))
    cols = torch.where(k == 0, j, torch.where(k == 1, last - i, torch.where(k == 2, last - j, i)))
    return _gather(images, rows, cols)


def random_translate(
    images: torch.Tensor, u_rows: torch.Tensor, u_cols: torch.Tensor, ratio: float, fill: str
) -> torch.Tensor:
    """:func:`translate` by whole pixels drawn uniformly from ``[-ratio * side, ratio * side]`` (rounded)
    in each direction, from uniform numbers in [0, 1) per image."""
    height, width = images.shape[-2:]
    return translate(
        images,
        _uniform_integers(u_rows, _pixels(ratio, height)),
        _uniform_integers(u_cols, _pixels(ratio, width)),
        fill,
    )


def random_cutout(images: torch.Tensor, u_rows: torch.Tensor, u_cols: torch.Tensor, ratio: float) -> torch.Tensor:
    """:func:`cutout` of a square of ``ratio`` of the side, centred anywhere from the first pixel to just
    past the last (uniformly, from uniform numbers in [0, 1) per image), as DiffAugment's reference does."""
    height, width = images.shape[-2:]
    centre_rows = (u_rows * (height + 1)).floor().long()
    centre_cols = (u_cols * (width + 1)).floor().long()
    return cutout(images, centre_rows, centre_cols, (_pixels(ratio, height), _pixels(ratio, width)))


def _uniform_integers(uniform: torch.Tensor, largest: int) -> torch.Tensor:
    """Uniform integers in ``[-largest, largest]`` from uniform numbers in [0, 1)."""
    return (uniform * (2 * largest + 1)).floor().long() - largest


def _pixels(ratio: float, size: int) -> int:
    """``ratio`` of an image side of ``size`` pixels, rounded to whole pixels."""
    return int(ratio * size + 0.5)
