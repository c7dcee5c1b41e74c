"""Apple silicon (MPS) without a Mac: what ganlab asks torch about the device is replaced by fixed answers."""

from __future__ import annotations

import pytest
import torch

from ganlab.data.loader import free_memory, resident_copy
from ganlab.errors import ConfigError, DataError
from ganlab.metrics.base import resolve_device

MPS = torch.device("mps")
GiB = 2**30


class CachedFaces:
    """A data set that gathers its own batches, as the preprocessed cache does: 1,000 images of 3x64x64."""

    channels, image_size = 3, 64

    def __len__(self) -> int:
        return 1000

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        raise AssertionError("nothing may be copied to a device that has no room for it")


@pytest.fixture
def metal_recommends(monkeypatch):
    """Make Metal recommend ``total`` bytes for this process, ``taken`` of them already allocated."""
    def recommend(total: int, taken: int) -> None:
        monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: total)
        monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: taken)
    return recommend


def test_free_memory_on_apple_silicon_is_what_metal_recommends_less_what_is_taken(metal_recommends):
    metal_recommends(16 * GiB, 6 * GiB)
    assert free_memory(MPS) == 10 * GiB


def test_data_too_large_for_half_the_free_unified_memory_stays_in_host_memory(metal_recommends):
    metal_recommends(total=20_000_000, taken=10_000_000)     # 10 MB free; the data set takes 12.3 MB
    assert resident_copy(CachedFaces(), MPS, "auto") is None
    with pytest.raises(DataError, match=r"train.data_on_device: 'always', but the data set needs .* free on mps"):
        resident_copy(CachedFaces(), MPS, "always")


def test_inception_follows_a_run_on_apple_silicon():
    assert resolve_device("auto", MPS) == MPS
    assert resolve_device("auto", torch.device("cpu")) == torch.device("cpu")


def test_inception_on_mps_where_there_is_none_is_a_recipe_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="'mps' was asked for but Apple's MPS is not available"):
        resolve_device("mps", torch.device("cpu"))
