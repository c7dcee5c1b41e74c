"""The optional packages that some commands need, installed with an extra of ganlab's: a missing one is a
one-line error saying which ``pip install`` brings it, never an ImportError's traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..common.errors import GanlabError

EXTRAS = {
    "onnx": "export",
    "onnxruntime": "export",
    "safetensors": "export",
    "imageio": "video",
    "imageio_ffmpeg": "video",
}
"""The extra of ganlab that installs each optional package."""


def needed(module: str, purpose: str) -> ModuleType:
    """The optional module ``module`` (``onnx``, ``safetensors.torch``, ``imageio.v3``...), imported; a
    GanlabError (exit 1) naming ``purpose`` and the extra to install where it is not installed."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(top, "export")
        raise GanlabError(
            f"{purpose} needs the package {top!r}, which is not installed: pip install 'ganlab[{extra}]'"
        ) from None
