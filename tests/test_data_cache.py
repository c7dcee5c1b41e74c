"""The preprocessed cache: keyed by a fingerprint, reused, built safely, read back exactly."""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import multiprocessing
import shutil
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from data_layouts import celeba_files, jpeg_bytes, write_folder, write_zip
from PIL import Image

from ganlab.common.errors import DataError
from ganlab.contracts.engine import BuildContext
from ganlab.data import folder
from ganlab.data.build_folders import BuildFolder, sweep
from ganlab.data.cache import build_cache
from ganlab.data.sources import open_source
from ganlab.data.synthetic import draw_faces
from ganlab.data.transform import CropResize

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"))


def dataset(root: Path, cache: Path, **settings) -> folder.CachedImages:
    config = folder.ImageFolderConfig(
        **{"root": str(root), "image_size": 16, "crop": 40, "workers": 1, "cache_dir": str(cache), **settings}
    )
    return folder.build(config, CONTEXT)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "images", celeba_files(8))


def test_the_fingerprint_is_stable_for_the_same_source_and_transform(images, tmp_path):
    assert dataset(images, tmp_path / "c").fingerprint == dataset(images, tmp_path / "other").fingerprint


@pytest.mark.parametrize("change", [{"image_size": 32}, {"crop": 36}, {"resize_filter": "lanczos"}])
def test_the_fingerprint_changes_with_the_transform(images, tmp_path, change):
    assert dataset(images, tmp_path / "c", **change).fingerprint != dataset(images, tmp_path / "c").fingerprint


def test_the_fingerprint_changes_when_a_file_changes_or_is_added(images, tmp_path):
    before = dataset(images, tmp_path / "c").fingerprint
    (images / "000003.jpg").write_bytes(jpeg_bytes(1, seed=5)[0])
    edited = dataset(images, tmp_path / "c").fingerprint
    (images / "000009.jpg").write_bytes(jpeg_bytes(1, seed=6)[0])
    added = dataset(images, tmp_path / "c").fingerprint
    assert len({before, edited, added}) == 3


def test_a_moved_zip_archive_keeps_its_fingerprint(tmp_path):
    archive = write_zip(tmp_path / "a" / "faces.zip", celeba_files(5))
    before = dataset(archive, tmp_path / "c").fingerprint
    moved = shutil.move(archive, tmp_path / "b.zip")
    assert dataset(Path(moved), tmp_path / "c").fingerprint == before


def test_a_later_run_reuses_the_cache_without_decoding(images, tmp_path, monkeypatch):
    first = dataset(images, tmp_path / "c")
    expected = first.get_batch(torch.arange(len(first)))

    def no_decoding(self, data):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(CropResize, "__call__", no_decoding)
    again = dataset(images, tmp_path / "c")
    assert torch.equal(again.get_batch(torch.arange(len(again))), expected)


def test_an_interrupted_build_leaves_nothing_a_later_run_would_use(images, tmp_path, monkeypatch):
    decode = CropResize.__call__
    calls = []

    def interrupted(self, data):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return decode(self, data)

    monkeypatch.setattr(CropResize, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        len(dataset(images, tmp_path / "c"))
    assert list((tmp_path / "c").iterdir()) == []
    monkeypatch.setattr(CropResize, "__call__", decode)
    rebuilt = dataset(images, tmp_path / "c")
    assert len(rebuilt) == 8
    assert torch.equal(
        rebuilt.get_batch(torch.arange(8)), dataset(images, tmp_path / "fresh").get_batch(torch.arange(8))
    )


def hold_a_build_folder(final: Path, parent) -> None:
    """A builder in another process: takes a build folder, writes 1 MiB into it, holds it until told."""
    with BuildFolder(final) as build:
        (build.path / "images.u8").write_bytes(bytes(2**20))
        parent.send(build.path)
        parent.poll(60)


@contextlib.contextmanager
def builder_in_another_process(final: Path):
    """The child process and the build folder it holds; it finishes cleanly at the end, if still alive."""
    final.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    child_end, parent_end = context.Pipe()
    child = context.Process(target=hold_a_build_folder, args=(final, parent_end))
    child.start()
    try:
        assert child_end.poll(60), "the builder process did not start"
        yield child, child_end.recv()
    finally:
        if child.is_alive():
            child_end.send("done")
        child.join(60)


def removal_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unfinished cache build" in r.getMessage()]


def test_a_build_folder_left_by_a_killed_builder_is_removed_with_a_warning(images, tmp_path, caplog):
    data = dataset(images, tmp_path / "c")
    with builder_in_another_process(data.cache_path) as (child, partial):
        child.kill()
        child.join(60)
        assert child.exitcode == -signal.SIGKILL and partial.is_dir()
        with caplog.at_level(logging.WARNING, logger="ganlab.data"):
            assert len(data) == 8
    assert not partial.exists()
    assert removal_warnings(caplog) == [
        f"ganlab: warning: data: removed 1 unfinished cache build(s) in {tmp_path / 'c'} left by processes that "
        f"died, freeing 1.0 MiB: {partial.name} (1.0 MiB)"
    ]


def test_a_build_folder_held_by_a_live_builder_is_left_alone(images, tmp_path, caplog):
    data = dataset(images, tmp_path / "c")
    with builder_in_another_process(data.cache_path) as (child, partial):
        with caplog.at_level(logging.WARNING, logger="ganlab.data"):
            assert len(data) == 8
        assert (partial / "images.u8").stat().st_size == 2**20
    assert removal_warnings(caplog) == []
    assert child.exitcode == 0 and not partial.exists()


def test_a_build_folder_without_a_lock_file_is_left_alone(images, tmp_path):
    # what ganlab before 0.2 builds in, and it may still be writing it from another process
    data = dataset(images, tmp_path / "c")
    unlocked = tmp_path / "c" / f".{data.fingerprint}.k3x_9q0a.partial"
    unlocked.mkdir(parents=True)
    (unlocked / "images.u8").write_bytes(bytes(1000))
    assert sweep(tmp_path / "c") == []
    assert [p.name for p in unlocked.iterdir()] == ["images.u8"]


def test_sweeping_leaves_finished_caches_and_other_folders_alone(images, tmp_path):
    cache = dataset(images, tmp_path / "c").prepare().path
    others = [tmp_path / "c" / name for name in ("notes.partial", ".notes.k3x_9q0a.partial", ".Ab12.k3x_9q0a.partial")]
    for path in others:
        path.mkdir()
    assert sweep(tmp_path / "c") == []
    assert sorted((tmp_path / "c").iterdir()) == sorted([cache, *others])
    assert sorted(f.name for f in cache.iterdir()) == ["images.u8", "meta.json", "skipped.txt"]


def test_of_two_builders_of_one_cache_the_first_to_finish_is_kept_and_the_other_cleans_up(tmp_path):
    final = tmp_path / "c" / "0123abcd"
    final.parent.mkdir()
    with BuildFolder(final) as first, BuildFolder(final) as second:
        for build, content in ((first, "first"), (second, "second")):
            (build.path / "meta.json").write_text(content, "utf-8")
        assert sweep(tmp_path / "c") == []
        first.publish()
        second.publish()
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["0123abcd"]
    assert (final / "meta.json").read_text("utf-8") == "first"


def test_a_damaged_cache_is_refused_with_the_folder_to_delete(images, tmp_path):
    built = dataset(images, tmp_path / "c")
    len(built)
    with open(built.cache_path / "images.u8", "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataError, match="damaged") as error:
        len(dataset(images, tmp_path / "c"))
    assert str(built.cache_path) in str(error.value)


def test_an_unwritable_cache_folder_is_a_clear_error(images, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match="cache_dir"):
        len(dataset(images, tmp_path / "a-file" / "cache"))


def test_the_cache_folder_defaults_to_the_environment_variable(images, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(tmp_path / "from-env"))
    built = dataset(images, "")
    len(built)
    assert built.cache_path.parent == tmp_path / "from-env" and (built.cache_path / "images.u8").exists()


def test_a_parallel_build_writes_the_same_cache_as_a_serial_one(tmp_path):
    source = open_source(write_folder(tmp_path / "many", celeba_files(150)))
    transform = CropResize(16, 40)
    serial = build_cache(tmp_path / "serial", source, transform, workers=1, progress=False)
    parallel = build_cache(tmp_path / "parallel", source, transform, workers=2, progress=False)
    assert serial.count == parallel.count == 150
    assert (tmp_path / "serial" / "images.u8").read_bytes() == (tmp_path / "parallel" / "images.u8").read_bytes()


def test_batches_come_back_in_the_order_asked_for(images, tmp_path):
    built = dataset(images, tmp_path / "c")
    every = torch.stack([built[i] for i in range(len(built))])
    indices = torch.tensor([5, 0, 5, 7, 2])
    assert torch.equal(built.get_batch(indices), every[indices])


@pytest.mark.parametrize("size", [64, 16])
def test_the_draft_decode_stays_within_a_grey_level_of_the_full_decode(size):
    faces = draw_faces(4, 218, seed=3).transpose(0, 2, 3, 1)[:, :, 20:198]  # 178 x 218, like CelebA
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(face)).save(buffer, "JPEG", quality=95)
        fast = CropResize(size, 178)(buffer.getvalue()).astype(int)
        exact = CropResize(size, 178, draft=False)(buffer.getvalue()).astype(int)
        assert np.abs(fast - exact).mean() < 1.5
        assert np.percentile(np.abs(fast - exact), 99) <= 10


@contextlib.contextmanager
def no_file_left_open():
    """Fails when a file opened inside the block is left for the garbage collector to close."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_previewing_a_built_cache_leaves_no_file_open(images, tmp_path):
    dataset(images, tmp_path / "c").prepare()
    with no_file_left_open():
        assert dataset(images, tmp_path / "c").preview()["count"] == 8


def test_a_cache_refused_by_on_bad_image_fail_leaves_no_file_open(images, tmp_path):
    (images / "000002.jpg").write_bytes(b"not an image")
    with no_file_left_open():
        with pytest.raises(DataError, match="on_bad_image"):
            dataset(images, tmp_path / "c", on_bad_image="fail").prepare()
