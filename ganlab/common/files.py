"""What a path is, found out without opening it: reading a named pipe waits forever for a writer, a device
such as ``/dev/zero`` never ends, and a symbolic link loop is not a missing file, so every path a user
gives is looked at with ``stat`` before it is opened."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def unusual(path: Path) -> str | None:
    """What ``path`` is when it exists in some form but is neither a regular file nor a folder, in words
    that follow the path in an error ("is a named pipe (FIFO)", "is a symbolic link loop"); None for a
    regular file, a folder, or nothing at all (the caller says what it expected there)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)!r})"
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop"
        return f"cannot be examined ({e.strerror or e})"
    for test, kind in SPECIAL_KINDS:
        if test(mode):
            return f"is {kind}, not a file"
    return None


def read_at_most(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``; ValueError naming its size when it is over ``limit``."""
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"is {size:,} bytes, more than {limit:,}")
    return path.read_bytes()


RECORD_LIMIT = 64 << 20
"""The most bytes a JSON record ganlab writes may have (meta.json with a large label distribution is a few
megabytes); a larger file is none of its records, and is refused before it is read."""


def read_json(path: Path, limit: int = RECORD_LIMIT) -> Any:
    """The JSON value in the file ``path``: a record ganlab wrote, which an edit by hand, a crash or another
    program may have made anything. What makes it unreadable is a ValueError in words that follow the path
    ("is a named pipe (FIFO), not a file", "is not JSON (...)", "is JSON nested too deep"), an OSError as
    the system gives it; never a wait on a pipe, a file read whole whatever its size, or a RecursionError."""
    kind = unusual(path)
    if kind is not None:
        raise ValueError(kind)
    try:
        return json.loads(read_at_most(path, limit).decode("utf-8"))
    except RecursionError:
        raise ValueError("is JSON nested too deep") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"is not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"is not JSON ({e})") from None


def read_checked_json(path: Path, limit: int, problem_of: Callable[[Any], str | None]) -> tuple[Any, str | None]:
    """The JSON record in ``path`` and what is wrong with it, in words that follow the path ("it cannot be
    read (...)", "it is not JSON (...)", or what ``problem_of`` says of the value read), None when nothing
    is: each caller names the record it expected (a sweep's manifest, a study's record)."""
    try:
        value = read_json(path, limit)
    except OSError as e:
        return None, f"it cannot be read ({e.strerror or e})"
    except ValueError as e:
        return None, f"it {e}"
    return value, problem_of(value)
