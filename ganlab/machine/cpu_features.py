"""Whether this CPU computes in bf16 and fp16 itself, or has torch emulate them in float32.

``train.precision = "bf16"`` or ``"fp16"`` is a speed option on hardware with native instructions for the
format; on a CPU without them every operation converts back and forth, and training gets many times
slower than fp32 (BENCHMARKS.md, "Precision on the CPU"). torch's own CPU capability
(``torch.backends.cpu.get_cpu_capability()``) names only the vector width (AVX2, AVX512), which does not
tell, so ganlab reads the instruction-set flags: /proc/cpuinfo on Linux, sysctl on Apple silicon.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import subprocess
from pathlib import Path

NATIVE_FLAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "bf16": {"x86_64": ("avx512_bf16", "amx_bf16"), "aarch64": ("bf16",)},
    "fp16": {"x86_64": ("avx512_fp16", "amx_fp16"), "aarch64": ("asimdhp",)},
}
"""Per format and architecture, the CPU flags (as Linux names them) of which any one means native
arithmetic in that format. x86's F16C only converts fp16 and does not count."""

APPLE_FEATURES = {"bf16": "hw.optional.arm.FEAT_BF16", "asimdhp": "hw.optional.arm.FEAT_FP16"}
"""The sysctl keys by which macOS tells the same of Apple silicon."""

ARCHITECTURES = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclasses.dataclass(frozen=True)
class Cpu:
    architecture: str
    flags: frozenset[str]

    def native(self, precision: str) -> bool | None:
        """Whether ``precision`` (bf16 or fp16) is native here; None for an architecture not known here."""
        wanted = NATIVE_FLAGS[precision].get(self.architecture)
        return None if wanted is None else any(flag in self.flags for flag in wanted)

    def lacks(self, precision: str) -> str:
        """The flags this CPU would need for ``precision``, as a user can look them up."""
        return " or ".join(NATIVE_FLAGS[precision][self.architecture])


def flags_in_cpuinfo(text: str) -> frozenset[str]:
    """The flags of the first processor in /proc/cpuinfo: ``flags`` on x86, ``Features`` on ARM."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _apple_flags() -> frozenset[str]:
    try:
        answers = subprocess.run(
            ["sysctl", "-n", *APPLE_FEATURES.values()], capture_output=True, text=True, timeout=5
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(flag for flag, answer in zip(APPLE_FEATURES, answers) if answer == "1")


@functools.lru_cache(maxsize=1)
def this_cpu() -> Cpu | None:
    """This machine's CPU, or None where its flags cannot be read (Windows, an Intel Mac, a container
    without /proc)."""
    architecture = platform.machine().lower()
    architecture = ARCHITECTURES.get(architecture, architecture)
    if platform.system() == "Darwin" and architecture == "aarch64":
        return Cpu(architecture, _apple_flags())
    try:
        flags = flags_in_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        return None
    return Cpu(architecture, flags) if flags else None
