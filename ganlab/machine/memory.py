"""Memory estimates checked before anything is allocated, so a size that cannot fit is a recipe error.

Without these checks an absurd size (a data set of 10^12 images, a progress grid of 10^10) ends in a
``MemoryError`` traceback at best and in the out-of-memory killer at worst, which takes the whole
process, and any run it was writing, with it. An estimate is a sum of named parts, each blamed on the
recipe key that decides it; the part that needs the most is the one the error names.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

try:
    import resource
except ImportError:  # Windows: no process limits to read
    resource = None

from ..common.errors import ConfigError

CGROUP = Path("/sys/fs/cgroup")


@dataclasses.dataclass(frozen=True)
class Need:
    """Bytes that one recipe key makes the process allocate, and what they hold (for the message)."""

    key: str
    what: str
    nbytes: int


def size_text(nbytes: float) -> str:
    """``1.50 GiB``: binary units, as memory is sold and as ``free -h`` shows it."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def available_host_memory() -> int | None:
    """Bytes a new allocation can get without swapping, within this process's cgroup limit and its own
    limits; None when the system does not say.

    MemAvailable counts reclaimable caches as free, unlike the free page count, a container's limit is
    its cgroup's, not the host's memory, and a process limited with ``ulimit -v`` or ``prlimit --as`` fails
    to allocate past its limit however much memory is free.
    """
    available = _kib_field("/proc/meminfo", "MemAvailable:")
    if available is None and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    known = [b for b in (available, _cgroup_headroom(), _rlimit_headroom()) if b is not None]
    return min(known, default=None)


def _kib_field(path: str, field: str) -> int | None:
    """Bytes of the ``field: N kB`` line of a /proc file; None where there is none."""
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rlimit_headroom() -> int | None:
    """What this process may still map under its address-space (``ulimit -v``) and data (``ulimit -d``)
    limits, less what it maps already (a process that imported torch maps gigabytes it never touches);
    None without a limit, or where the system does not say what it maps."""
    if resource is None:
        return None
    headrooms = []
    for limit, field in ((resource.RLIMIT_AS, "VmSize:"), (resource.RLIMIT_DATA, "VmData:")):
        soft = resource.getrlimit(limit)[0]
        used = _kib_field("/proc/self/status", field) if soft != resource.RLIM_INFINITY else None
        if used is not None:
            headrooms.append(max(soft - used, 0))
    return min(headrooms, default=None)


def _cgroup_headroom() -> int | None:
    """The cgroup v2 memory limit less what the group already uses; None without a limit."""
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        used = (CGROUP / "memory.current").read_text().strip()
        return None if limit == "max" else max(int(limit) - int(used), 0)
    except (OSError, ValueError):
        return None


def refuse_if_too_big(needs: list[Need], available: int | None, where: str) -> None:
    """Raise :class:`ConfigError` on the key of the largest need when all of them together exceed
    ``available`` bytes (of ``where``: "memory", "GPU memory"); nothing when the system does not say.
    The message lists the needs that make up at least 1 % of the total."""
    total = sum(need.nbytes for need in needs)
    if available is None or total <= available:
        return
    largest = max(needs, key=lambda need: need.nbytes)
    parts = "; ".join(f"{need.what}: {size_text(need.nbytes)}" for need in needs if need.nbytes * 100 >= total)
    raise ConfigError(
        largest.key,
        f"needs about {size_text(total)} of {where} ({parts}), more than the "
        f"{size_text(available)} available; make it smaller",
    )


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed: Python's and NumPy's MemoryError, a device's
    ``torch.OutOfMemoryError``, and the RuntimeError of torch's CPU allocator, which has no class of its own."""
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )
