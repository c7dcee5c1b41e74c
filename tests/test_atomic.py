"""Atomic writes: all or nothing, with the permissions a plain open() would have given."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ganlab.common.atomic import atomic_write, atomic_write_text


@pytest.fixture
def umask(request):
    """Sets the process umask the test asks for (022 unless parametrized) and restores the old one after."""
    old = os.umask(getattr(request, "param", 0o022))
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=["022", "002", "077"], indirect=True)
def test_a_new_file_gets_the_mode_open_would_give_it(umask, tmp_path):
    with open(tmp_path / "plain.txt", "w"):
        pass
    atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    assert mode(tmp_path / "report.html") == mode(tmp_path / "plain.txt")


def test_replacing_a_file_keeps_its_mode(umask, tmp_path):
    path = tmp_path / "meta.json"
    path.write_text("{}", "utf-8")
    path.chmod(0o640)
    atomic_write_text(path, '{"status": "finished"}')
    assert path.read_text("utf-8") == '{"status": "finished"}'
    assert mode(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(umask, tmp_path):
    path = tmp_path / "meta.json"
    path.write_text("old", "utf-8")

    def fails_half_way(f):
        f.write(b"new and incompl")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, fails_half_way)
    assert path.read_text("utf-8") == "old"
    assert list(tmp_path.iterdir()) == [path]
