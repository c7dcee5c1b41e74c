"""FID, KID, precision/recall and Inception Score computed by torch-fidelity's own extractor and formulas.

ganlab only feeds the images: uint8 RGB (N, 3, H, W), exactly what torch-fidelity's Inception takes
(it resizes to 299 with its TensorFlow-compatible bilinear filter itself). Grey images are repeated to
three channels, as Pillow's ``convert("RGB")`` does for torch-fidelity's own folder reader. All three
metrics read the 2048-d pool features of ``inception-v3-compat``, so one weights file serves them all.
The extractor runs on any torch device (a GPU, Apple's MPS, the CPU): ganlab moves it and the batches
there itself, since torch-fidelity's own loop knows only CUDA and the CPU.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..common.errors import ConfigError
from .weights import InceptionWeights, load_state_dict, network_digest

FEATURE_EXTRACTOR = "inception-v3-compat"
FEATURE_LAYER = "2048"
FEATURE_BYTES = 2048 * 4
"""Bytes of one image's float32 features."""
INPUT_BYTES = 3 * 299 * 299 * 4
"""Bytes of one image as Inception reads it: RGB floats at 299x299."""


def as_rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 images (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}")
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


class InceptionFeatures:
    """torch-fidelity's InceptionV3 built from vetted weights; maps uint8 images to 2048-d features.

    The file is read once, with ``weights_only=True``, and its digest checked against the one the weights
    were vetted with; torch-fidelity then gets those very tensors, never the file, so nothing it does
    with a path (it unpickles fully) can see another file's bytes."""

    def __init__(self, weights: InceptionWeights, device: torch.device, layer: str = FEATURE_LAYER):
        self.weights = weights
        self.device = device
        self.layer = layer
        state = load_state_dict(weights.path, "the weights file")
        if network_digest(state) != weights.sha256:
            raise ConfigError(
                "weights_path",
                f"{str(weights.path)!r} changed after it was checked (its network "
                f"is no longer {weights.sha256[:16]}...); run the command again",
            )
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        from torch_fidelity.utils import create_feature_extractor  # on first use: it imports torchvision

        try:
            extractor = create_feature_extractor(
                FEATURE_EXTRACTOR, [layer], cuda=False, feature_extractor_weights_path=buffer, verbose=False
            )
        except RuntimeError as e:
            raise ConfigError(
                "weights_path",
                f"{str(weights.path)!r} is a state dict but not of torch-fidelity's "
                f"InceptionV3: {str(e).splitlines()[0]}",
            ) from None
        self.extractor = fold_batch_norms(extractor).to(device, memory_format=torch.channels_last)
        self._memo: tuple[Any, torch.Tensor] | None = None

    def __call__(self, images: torch.Tensor, batch_size: int, progress: bool = False) -> torch.Tensor:
        """The features of uint8 ``images`` as float (N, 2048) on the CPU, ``batch_size`` at a time."""
        batches = (images[start : start + batch_size] for start in range(0, len(images), batch_size))
        return self.of_batches(batches, len(images), progress)

    @torch.no_grad()
    def of_batches(self, batches: Iterable[torch.Tensor], total: int, progress: bool = False) -> torch.Tensor:
        """The features of uint8 image ``batches`` (``total`` images in all), one batch in memory at a time."""
        features = []
        with tqdm(total=total, disable=not progress, leave=False, unit="img", desc="Inception") as bar:
            for batch in batches:
                batch = as_rgb_uint8(batch).to(self.device)
                output = self.extractor.convert_features_tuple_to_dict(self.extractor(batch))
                features.append(output[self.layer].cpu())
                bar.update(len(batch))
        return torch.cat(features)

    def memoised(self, key: Any, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Features for ``key`` computed once: the fid, kid and precision-recall evaluators of one evaluation
        share the same generated images, so the second and third evaluator pay nothing for them. ``key`` must
        name everything that decides the images (:func:`~ganlab.evaluators.fidelity.generated_images_key`)."""
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, compute())
        return self._memo[1]

    def protocol(self) -> dict[str, Any]:
        import torch_fidelity

        return {
            "library": "torch-fidelity",
            "library_version": torch_fidelity.__version__,
            "feature_extractor": FEATURE_EXTRACTOR,
            "feature_layer": self.layer,
            "network_sha256": self.weights.sha256,
            "network_source": self.weights.source,
        }


def fold_batch_norms(network: nn.Module) -> nn.Module:
    """``network`` with each convolution + eval-mode batch norm pair (torch-fidelity's BasicConv2d) made one
    convolution with a bias: batch norm at inference is a per-channel affine map, so folding it in saves
    a full pass over every activation of Inception's 94 layers. Together with channels-last convolutions
    this is what makes ganlab's pass faster than torch-fidelity's own (BENCHMARKS.md); the features move
    by about 1e-5 (float rounding), FID by far less than the 1e-4 it is held to."""
    for block in network.modules():
        conv, norm = getattr(block, "conv", None), getattr(block, "bn", None)
        if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)) or conv.bias is not None:
            continue
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            bias=True,
        )
        with torch.no_grad():
            fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            fused.bias.copy_(norm.bias - norm.running_mean * scale)
        block.conv, block.bn = fused.requires_grad_(False), nn.Identity()
    return network


@functools.lru_cache(maxsize=2)
def load_inception(weights: InceptionWeights, device: torch.device, layer: str = FEATURE_LAYER) -> InceptionFeatures:
    """One extractor per weights file, device and layer per process, shared by every evaluator that uses it."""
    return InceptionFeatures(weights, device, layer)


def statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """FID's mean and covariance, by torch-fidelity, as tensors (so a cache can load them safely)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(features)
    return {"mu": torch.from_numpy(np.asarray(stats["mu"])), "sigma": torch.from_numpy(np.asarray(stats["sigma"]))}


def frechet_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    as_numpy = lambda s: {"mu": s["mu"].numpy(), "sigma": s["sigma"].numpy()}  # noqa: E731
    return float(fid_statistics_to_metric(as_numpy(a), as_numpy(b), verbose=False)[KEY_METRIC_FID])


def kernel_distance(
    generated: torch.Tensor, reference: torch.Tensor, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (mean, std over subsets) with torch-fidelity's default cubic polynomial kernel."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    out = kid_features_to_metric(
        generated, reference, kid_subsets=subsets, kid_subset_size=subset_size, rng_seed=seed, verbose=False
    )
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Salimans et al. 2016 Inception Score (mean, std over ``splits``), as torch-fidelity computes it from
    the unbiased logits."""
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    out = isc_features_to_metric(logits, splits=min(splits, len(logits)), shuffle=True, rng_seed=2020)
    return out[KEY_METRIC_ISC_MEAN], out[KEY_METRIC_ISC_STD]


def precision_recall(generated: torch.Tensor, reference: torch.Tensor, neighborhood: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019 improved precision and recall, k-NN balls of size ``neighborhood``."""
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    out = prc_features_to_metric(generated, reference, prc_neighborhood=neighborhood, save_cpu_ram=True, verbose=False)
    return out[KEY_METRIC_PRECISION], out[KEY_METRIC_RECALL]
