"""Where encoded images come from: a folder tree or a zip archive read in place, never extracted.

A source is a sorted list of member names plus a way to read one member's bytes; ``with_names`` gives the
same folder or archive restricted to some of them. Its fingerprint
identifies the content without reading it: relative name, size and modification time for files in a
folder; name, size and CRC-32 from a zip's central directory (so a moved or copied archive keeps its
fingerprint).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from PIL import Image

from ..common.errors import DataError
from ..common.files import unusual

IMAGE_SUFFIXES = frozenset(Image.registered_extensions())
"""Every file suffix Pillow can read (.jpg, .png, .webp, .tif, ...)."""


def is_image_name(name: str) -> bool:
    """An image by its suffix, skipping hidden files and macOS resource forks (``__MACOSX/``, ``._x.jpg``)."""
    path = PurePosixPath(name)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and "__MACOSX" not in path.parts


class FolderSource:
    """Files under ``root``; names are POSIX paths relative to it."""

    def __init__(self, root: Path, names: list[str]):
        self.root = root
        self.names = names
        self.location = str(root)

    def read(self, name: str) -> bytes:
        """The file's bytes; an OSError, which the cache build reports as an unreadable file, for a named
        pipe or device, which would block or never end."""
        path = self.root / name
        problem = unusual(path)
        if problem is not None:
            raise OSError(problem)
        return path.read_bytes()

    def with_names(self, names: list[str]) -> FolderSource:
        """The same folder, restricted to ``names`` (a part of it: a training subset, the held-out rest)."""
        return FolderSource(self.root, names)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(b"folder\0")
        for name in self.names:
            path = self.root / name
            stat = path.stat() if path.exists() else path.lstat()  # a broken link is fingerprinted too
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


class ZipSource:
    """Members of a zip archive. Each process opens its own handle, so worker processes can share one."""

    def __init__(self, archive: Path, names: list[str]):
        self.archive = archive
        self.names = names
        self.location = str(archive)
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None, "_pid": -1}

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = open_zip(self.archive), os.getpid()
        return self._zip

    def read(self, name: str) -> bytes:
        return self._handle().read(name)

    def with_names(self, names: list[str]) -> ZipSource:
        """The same archive, restricted to ``names`` (a part of it: a training subset, the held-out rest)."""
        return ZipSource(self.archive, names)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(b"zip\0")
        handle = self._handle()
        for name in self.names:
            info = handle.getinfo(name)
            digest.update(f"{name}\0{info.file_size}\0{info.CRC}\n".encode())
        return digest.hexdigest()


Source = FolderSource | ZipSource


def open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"data.root: {str(archive)!r} is not a readable zip archive ({e})") from None


def zip_names(archive: Path) -> list[str]:
    """Every file member of ``archive`` (folders left out)."""
    with open_zip(archive) as handle:
        return [info.filename for info in handle.infolist() if not info.is_dir()]


def folder_names(root: Path) -> list[str]:
    """Every file under ``root``, recursively, as sorted POSIX paths relative to ``root``.

    Linked folders are followed, each real folder once: a link back to a folder above would otherwise
    list the same files again at every level.
    """
    names, seen = [], set()
    for directory, subfolders, files in os.walk(root, followlinks=True):
        identity = (os.stat(directory).st_dev, os.stat(directory).st_ino)
        if identity in seen:
            subfolders.clear()
            continue
        seen.add(identity)
        relative = Path(directory).relative_to(root)
        names.extend((relative / f).as_posix() for f in files)
    return sorted(names)


def open_source(root: Path, select: Callable[[list[str]], list[str]] | None = None) -> Source:
    """The images under a folder or in a ``.zip`` archive at ``root``; ``select`` filters member names.

    Raises :class:`DataError` naming ``root`` when it is missing, not a folder or archive, or holds no
    image.
    """
    select = select or (lambda names: sorted(n for n in names if is_image_name(n)))
    problem = unusual(root)
    if problem is not None:
        raise DataError(f"data.root: {str(root)!r} {problem}; give a folder or a zip archive")
    if not root.exists():
        raise DataError(f"data.root: {str(root)!r} does not exist")
    if root.is_dir():
        source: Source = FolderSource(root, select(folder_names(root)))
    elif zipfile.is_zipfile(root):
        source = ZipSource(root, select(zip_names(root)))
    else:
        raise DataError(f"data.root: {str(root)!r} is neither a folder nor a zip archive")
    if not source.names:
        raise DataError(
            f"data.root: no images found in {str(root)!r} (readable formats: "
            f"{', '.join(sorted(IMAGE_SUFFIXES)[:8])}, ...)"
        )
    return source
