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

from ..errors import ConfigError

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
    """Bytes a new allocation can get without swapping, within this process's cgroup limit; None when
    the system does not say.

    MemAvailable counts reclaimable caches as free, unlike the free page count, and a container's limit
    is its cgroup's, not the host's memory.
    """
    available = _meminfo_available()
    if available is None and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = _cgroup_headroom()
    if available is None or limit is None:
        return available if limit is None else limit
    return min(available, limit)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


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
    raise ConfigError(largest.key, f"needs about {size_text(total)} of {where} ({parts}), more than the "
                                   f"{size_text(available)} available; make it smaller")
