"""Which torch device a run uses: the recipe's ``experiment.device`` setting, with ``auto`` picking the
best one present, and a device asked for but absent refused as a recipe error."""

from __future__ import annotations

import torch

from ..common.errors import ConfigError, RecipeError

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
"""The device settings there are: ``auto`` or a kind of device."""


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("experiment.device", "'cuda' was asked for but no CUDA device is available")
    if setting == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("experiment.device", "'mps' was asked for but Apple's MPS is not available")
    return torch.device(setting)


def recipe_device(setting: str, source: str) -> torch.device:
    """The device of a recipe read from ``source`` whose ``experiment.device`` is ``setting``: a device it
    cannot have is a mistake in that recipe."""
    try:
        return resolve_device(setting)
    except ConfigError as e:
        raise RecipeError(source, [f"{e.key}: {e.message}"]) from None
