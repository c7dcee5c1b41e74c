"""The hidden folders caches are built in: held by their builder, and swept once their builder is gone.

A cache ``<root>/<fingerprint>`` is built in ``<root>/.<fingerprint>.<random>.partial`` and renamed into
place when complete. A build that is killed outright (SIGKILL, a power cut, the out-of-memory killer)
cannot delete its folder, which may hold gigabytes that nothing will ever read. So the builder holds an
exclusive ``flock`` on ``build.lock`` inside its folder for the whole build; the kernel releases it when
the process dies, however it dies, and a partial folder whose lock can be taken has no live builder.

Sweeping takes that lock before deleting a folder and keeps it until the folder is gone, so a builder
and a sweeper never both own one. A folder without a lock file is never swept: ganlab before 0.2 built
without one, and such a build may still be running in another process sharing the cache folder. The
one window left, between a builder creating its lock file and locking it, is closed on the builder's
side: if a sweeper got there first (the lock is taken, or the folder is gone once the builder holds the
lock), the builder simply makes another folder.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path

LOCK = "build.lock"
_PARTIAL = re.compile(r"\.[0-9a-f]+\.[a-z0-9_]{8}\.partial")
"""A build folder's name: the hex fingerprint and tempfile's eight random characters, hidden."""


@dataclasses.dataclass(frozen=True)
class Swept:
    """A build folder left by a process that died, and the bytes deleting it freed."""

    path: Path
    size: int


class BuildFolder:
    """A new, empty, locked folder beside ``final``, written by this process alone and then published.

    Used as a context manager: leaving the block releases the lock and, unless :meth:`publish` was
    called, deletes the folder, so an error or an interruption leaves nothing behind.
    """

    def __init__(self, final: Path):
        self.final = final
        while True:
            path = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
            try:
                fd = _lock(path, create=True)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            if fd is not None:
                break
            # None: a sweeper took the folder between its creation and our lock, and is deleting it
        path.chmod(0o755)  # mkdtemp makes it private; a published cache is as readable as its parent
        self.path = path
        self._fd = fd
        self._published = False

    def publish(self) -> None:
        """Rename the finished build into place; if another process finished the same cache first, keep theirs."""
        try:
            os.rename(self.path, self.final)
        except OSError:
            if not (self.final / "meta.json").exists():
                raise
            return
        self._published = True
        (self.final / LOCK).unlink()

    def __enter__(self) -> BuildFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self._published:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            os.close(self._fd)


def sweep(root: Path) -> list[Swept]:
    """Delete the build folders in ``root`` that no live process holds, and say which, largest first."""
    try:
        candidates = [
            Path(entry.path)
            for entry in os.scandir(root)
            if _PARTIAL.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
        ]
    except OSError:  # no cache root yet, or one this user cannot list: nothing of ours to sweep
        return []
    swept = []
    for path in candidates:
        try:
            fd = _lock(path, create=False)
        except OSError:  # another user's folder, say: not ours to delete, and no reason to fail a run
            continue
        if fd is None:
            continue
        try:
            size = _size(path)
            shutil.rmtree(path)
        except OSError:
            continue
        finally:
            os.close(fd)
        swept.append(Swept(path, size))
    return sorted(swept, key=lambda s: -s.size)


def _lock(folder: Path, create: bool) -> int | None:
    """A descriptor holding ``folder``'s build lock, its lock file made first if ``create``; None if a live
    process holds it, it was just swept, or (not ``create``) it has no lock file."""
    lock = folder / LOCK
    try:
        fd = os.open(lock, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(lock).st_ino == os.fstat(fd).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def _size(folder: Path) -> int:
    return sum(os.lstat(os.path.join(parent, name)).st_size for parent, _, names in os.walk(folder) for name in names)
