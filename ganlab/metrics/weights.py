"""Find and vet torch-fidelity's Inception weights before any training step.

torch-fidelity downloads ``weights-inception-2015-12-05-6726825d.pth`` into the torch hub cache on first
use and later unpickles it fully (``weights_only=False``). ganlab looks in three places, in order: the
hook's ``weights_path``, the ``GANLAB_INCEPTION_WEIGHTS`` environment variable, the torch hub cache; it
downloads only when the recipe says ``download = true``. Whatever file it finds must load with
``weights_only=True`` as a plain state dict of tensors, or it is refused: a file that needs the full
unpickler could run arbitrary code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from ..errors import ConfigError

WEIGHTS_FILE = URL_INCEPTION_V3.rsplit("/", 1)[-1]
ENV_VAR = "GANLAB_INCEPTION_WEIGHTS"
OFFICIAL_SHA256_PREFIX = WEIGHTS_FILE.rsplit("-", 1)[-1].split(".")[0]
"""torch hub names files after the first hex digits of their sha256; a match means the official file."""


@dataclasses.dataclass(frozen=True)
class InceptionWeights:
    path: Path
    sha256: str

    @property
    def official(self) -> bool:
        return self.sha256.startswith(OFFICIAL_SHA256_PREFIX)


def hub_path() -> Path:
    """Where torch-fidelity itself would download the weights to."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def missing_message() -> str:
    return (f"the Inception weights for FID/KID/precision-recall are not available: ganlab needs "
            f"{WEIGHTS_FILE} (download it from {URL_INCEPTION_V3}). Put it at {hub_path()}, or set this "
            f"hook's weights_path to the file, or the environment variable {ENV_VAR}=/path/to/{WEIGHTS_FILE}; "
            "set download = true to let ganlab fetch it where the internet is reachable")


def locate(weights_path: str, download: bool) -> Path:
    """The weights file to use; raises ConfigError(weights_path) naming the file and where to put it."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError("weights_path", f"{str(path)!r} does not exist; {missing_message()}")
        return path
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError("weights_path", f"{ENV_VAR}={from_env!r} names no file; {missing_message()}")
        return path
    path = hub_path()
    if path.is_file():
        return path
    if not download:
        raise ConfigError("weights_path", missing_message())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(path), progress=False)
    except Exception as e:
        raise ConfigError("weights_path", f"downloading failed ({type(e).__name__}: {e}); "
                                          f"{missing_message()}") from None
    return path


def vet(path: Path) -> InceptionWeights:
    """Hash ``path`` and check it is a plain state dict loadable with ``weights_only=True``."""
    data = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError("weights_path", f"{str(path)!r} does not load with torch.load(weights_only=True) "
                                          f"({first_line}); ganlab refuses to unpickle it. {missing_message()}"
                          ) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ConfigError("weights_path", f"{str(path)!r} is not a state dict (a mapping of names to tensors); "
                                          f"{missing_message()}")
    return InceptionWeights(path, hashlib.sha256(data).hexdigest())


def find_weights(weights_path: str = "", download: bool = False) -> InceptionWeights:
    return vet(locate(weights_path, download))
