"""Reference sets: their fingerprint, and the on-disk cache keyed by it."""

import os
import shutil

import pytest
import torch
from PIL import Image

from ganlab.common.errors import ConfigError
from ganlab.contracts.engine import BuildContext
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig
from ganlab.metrics.cache import ReferenceCache, cache_root
from ganlab.metrics.reference import ReferenceSample, open_reference, reference_sample


def faces(**changes) -> SyntheticFaces:
    return SyntheticFaces(SyntheticFacesConfig(**{"image_size": 16, "num_images": 32, "seed": 0, **changes}))


def fingerprint(dataset, count=16, seed=0) -> str:
    return ReferenceSample(dataset, count, seed).fingerprint()


def test_the_same_data_gives_the_same_fingerprint():
    assert fingerprint(faces()) == fingerprint(faces())


@pytest.mark.parametrize("change", [{"seed": 1}, {"image_size": 32}, {"num_images": 33}])
def test_the_fingerprint_changes_with_the_data_set_and_the_image_size(change):
    assert fingerprint(faces(**change)) != fingerprint(faces())


def test_the_fingerprint_changes_with_the_number_of_images_and_the_sample_seed():
    assert len({fingerprint(faces()), fingerprint(faces(), count=8), fingerprint(faces(), seed=1)}) == 3


def write_images(folder, count, size=24):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (size, size + 8), (10 * i, 100, 200)).save(folder / f"{i:03d}.png")


CONTEXT = BuildContext(seed=0, device=torch.device("cpu"), image_size=16, channels=3)


def reference_fingerprint(folder) -> str:
    return reference_sample(open_reference(str(folder), CONTEXT), faces(), count=100, seed=0).fingerprint()


def test_a_reference_folder_is_read_at_the_training_size(tmp_path):
    write_images(tmp_path / "ref", 5)
    sample = reference_sample(open_reference(str(tmp_path / "ref"), CONTEXT), faces(), count=100, seed=0)
    assert sample.count == 5 and sample.images().shape == (5, 3, 16, 16)


def test_editing_a_reference_folder_changes_its_fingerprint(tmp_path):
    write_images(tmp_path / "ref", 5)
    before = reference_fingerprint(tmp_path / "ref")
    stat = os.stat(tmp_path / "ref" / "002.png")
    os.utime(tmp_path / "ref" / "002.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert reference_fingerprint(tmp_path / "ref") != before


def test_a_zip_archive_serves_as_a_reference_set(tmp_path):
    write_images(tmp_path / "ref", 4)
    archive = shutil.make_archive(str(tmp_path / "ref"), "zip", tmp_path / "ref")
    sample = reference_sample(open_reference(archive, CONTEXT), faces(), count=100, seed=0)
    assert sample.count == 4 and sample.images().shape == (4, 3, 16, 16)


def test_a_missing_reference_folder_is_a_config_error_on_the_reference_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        open_reference(str(tmp_path / "nope"), CONTEXT)
    assert info.value.key == "reference" and "does not exist" in info.value.message


def test_the_training_data_is_the_reference_when_no_folder_is_given():
    training = faces()
    sample = reference_sample(open_reference("data", CONTEXT), training, count=10, seed=4)
    assert sample.dataset is training
    assert torch.equal(sample.images(), sample.images())


def test_the_cache_lives_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    assert ReferenceCache().path("k").parent == tmp_path / "elsewhere" / "reference"


def test_the_cache_computes_once_then_hits_and_a_new_key_misses(tmp_path):
    cache = ReferenceCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"features": torch.randn(4, 3)}

    first, hit_first = cache.get_or_compute("ref-a", compute)
    second, hit_second = cache.get_or_compute("ref-a", compute)
    _, hit_other = cache.get_or_compute("ref-b", compute)
    assert (hit_first, hit_second, hit_other) == (False, True, False) and len(calls) == 2
    assert torch.equal(first["features"], second["features"])


def test_a_corrupt_cache_entry_is_recomputed_and_replaced(tmp_path):
    cache = ReferenceCache(tmp_path)
    cache.path("ref").parent.mkdir(parents=True)
    cache.path("ref").write_bytes(b"truncated")
    value, hit = cache.get_or_compute("ref", lambda: {"features": torch.ones(2)})
    assert not hit and torch.equal(cache.load("ref")["features"], torch.ones(2))


def test_cache_keys_cannot_escape_the_cache_folder(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        ReferenceCache(tmp_path).path("../../etc/passwd")
