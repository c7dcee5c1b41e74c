"""Devices ganlab cannot test on here: Apple silicon (MPS) without a Mac, and CPUs with and without native
bf16 and fp16 arithmetic. What ganlab asks torch and the CPU is replaced by fixed answers."""

from __future__ import annotations

import logging

import pytest
import torch

from ganlab.common.errors import ConfigError, DataError
from ganlab.data.loader import free_memory, resident_copy
from ganlab.evaluators.metric_base import resolve_device
from ganlab.machine.cpu_features import Cpu, flags_in_cpuinfo

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
    metal_recommends(total=20_000_000, taken=10_000_000)  # 10 MB free; the data set takes 12.3 MB
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


AVX2_ONLY = Cpu("x86_64", frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"}))
"""An x86 CPU with no native bf16 or fp16 arithmetic (F16C only converts), as on the machine where bf16
trained the quickstart 16x slower than fp32."""


@pytest.fixture
def cpu(monkeypatch):
    """Make ganlab see ``cpu`` as this machine's processor."""
    return lambda processor: monkeypatch.setattr("ganlab.training.networks.this_cpu", lambda: processor)


def precision_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "train.precision" in r.getMessage()]


def test_validate_warns_that_bf16_is_emulated_on_a_cpu_without_it(run_cli, write_recipe, cpu, caplog):
    cpu(AVX2_ONLY)
    with caplog.at_level(logging.WARNING, logger="ganlab.training.networks"):
        result = run_cli("validate", write_recipe({"train": {"precision": "bf16"}}))
    assert result.exit_code == 0, result.output
    [warning] = precision_warnings(caplog)
    assert 'train.precision = "bf16": this CPU has no native bf16 instructions (avx512_bf16 or amx_bf16)' in warning
    assert 'use "fp32" here' in warning


def test_a_run_in_fp16_on_a_cpu_without_it_is_warned_about_before_training(
    run_cli, write_recipe, cpu, caplog, tmp_path
):
    cpu(AVX2_ONLY)
    with caplog.at_level(logging.WARNING, logger="ganlab.training.networks"):
        result = run_cli(
            "run",
            write_recipe({"train": {"precision": "fp16", "max_steps": 1}}),
            "--out",
            tmp_path / "runs",
            "--no-progress",
        )
    assert result.exit_code == 0, result.output
    [warning] = precision_warnings(caplog)
    assert "no native fp16 instructions (avx512_fp16 or amx_fp16)" in warning


@pytest.mark.parametrize(
    "processor, precision",
    [
        (Cpu("x86_64", frozenset({"avx2", "avx512f", "avx512_bf16"})), "bf16"),
        (Cpu("x86_64", frozenset({"avx2", "amx_bf16", "amx_fp16"})), "fp16"),
        (AVX2_ONLY, "fp32"),
    ],
)
def test_no_warning_where_the_precision_is_native_or_fp32(run_cli, write_recipe, cpu, caplog, processor, precision):
    cpu(processor)
    with caplog.at_level(logging.WARNING, logger="ganlab.training.networks"):
        result = run_cli("validate", write_recipe({"train": {"precision": precision}}))
    assert result.exit_code == 0, result.output
    assert precision_warnings(caplog) == []


ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm bf16 i8mm
CPU implementer\t: 0x41
"""


def test_an_arm_cpu_with_bf16_and_half_precision_simd_runs_both_natively():
    processor = Cpu("aarch64", flags_in_cpuinfo(ARM_CPUINFO))
    assert processor.native("bf16") and processor.native("fp16")
    assert not Cpu("aarch64", frozenset({"fp", "asimd"})).native("bf16")
