"""``data.num_images``: image-folder and celeba train on a seeded subset of their images and hold the rest
out, for the metric evaluators to score against."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from data_layouts import celeba_files, jpeg_bytes, partition_text, write_folder, write_recipe_with_data, write_zip

from ganlab.common.errors import DataError
from ganlab.contracts.engine import BuildContext
from ganlab.data import celeba, folder
from ganlab.data.cache import fingerprint
from ganlab.data.sources import open_source
from ganlab.data.transform import CropResize
from ganlab.metrics.reference import ReferenceSample

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"))
COUNT = 20


def faces(count: int = COUNT) -> dict[str, bytes]:
    return {f"{i:03d}.jpg": data for i, data in enumerate(jpeg_bytes(count))}


def build_folder(root: Path, cache: Path, **settings):
    config = folder.ImageFolderConfig(root=str(root), image_size=16, workers=1, cache_dir=str(cache), **settings)
    return folder.build(config, CONTEXT)


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "faces", faces())


def test_the_subset_is_chosen_by_the_seed_alone_and_stays_the_same(source_root, tmp_path):
    chosen = build_folder(source_root, tmp_path / "cache", num_images=5, subset_seed=0).source.names
    # Pinned: a change here changes every user's subset, and so their runs' data and reference sets.
    assert chosen == ["000.jpg", "008.jpg", "012.jpg", "014.jpg", "019.jpg"]
    assert build_folder(source_root, tmp_path / "other", num_images=5, subset_seed=0).source.names == chosen
    assert build_folder(source_root, tmp_path / "cache", num_images=5, subset_seed=1).source.names != chosen
    larger = build_folder(source_root, tmp_path / "cache", num_images=8, subset_seed=0).source.names
    assert set(chosen) <= set(larger), "a larger subset with the same seed keeps the smaller one's images"


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_the_subset_and_the_held_out_images_part_the_source(layout, tmp_path):
    root = (
        write_folder(tmp_path / "faces", faces()) if layout == "folder" else write_zip(tmp_path / "faces.zip", faces())
    )
    training = build_folder(root, tmp_path / "cache", num_images=6, subset_seed=2)
    held_out = training.held_out()
    assert len(training) == 6 and len(held_out) == COUNT - 6
    assert set(training.source.names).isdisjoint(held_out.source.names)
    assert sorted(training.source.names + held_out.source.names) == sorted(faces())
    whole = build_folder(root, tmp_path / "cache")
    rows = {name: i for i, name in enumerate(whole.source.names)}
    for part in (training, held_out):  # the same pixels as the whole set's, at the same transform
        expected = whole.get_batch(torch.tensor([rows[name] for name in part.source.names]))
        assert torch.equal(part.get_batch(torch.arange(len(part))), expected)


def test_each_part_says_which_it_is_and_the_held_out_set_holds_nothing_back(source_root, tmp_path):
    training = build_folder(source_root, tmp_path / "cache", num_images=6, subset_seed=2)
    held_out = training.held_out()
    subset = {"subset_num_images": 6, "subset_seed": 2, "source_images": COUNT}
    assert training.describe().items() >= {"part": "training subset", **subset}.items()
    assert held_out.describe().items() >= {"part": "held-out", **subset}.items()
    assert held_out.held_out() is None
    assert training.preview()["part"] == "training subset"
    whole = build_folder(source_root, tmp_path / "cache")
    assert len({training.fingerprint, held_out.fingerprint, whole.fingerprint}) == 3, "each part has its cache"


def test_training_on_every_image_holds_none_back(source_root, tmp_path):
    assert build_folder(source_root, tmp_path / "cache").held_out() is None
    assert build_folder(source_root, tmp_path / "cache", num_images=COUNT).held_out() is None


def test_without_num_images_the_cache_and_the_reference_fingerprint_are_what_they_were(source_root, tmp_path):
    dataset = build_folder(source_root, tmp_path / "cache")
    transform = CropResize(16, 0, "bicubic")
    assert dataset.fingerprint == fingerprint(open_source(source_root), transform)
    described = dataset.describe()
    assert set(described) == {"source", "count", "fingerprint", *transform.describe(), "skipped"}
    before = {"data": described, "drawn": 8, "sample_seed": 0}  # the fingerprint's formula, unchanged
    expected = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()
    assert ReferenceSample(dataset, 8, 0).fingerprint() == expected


def test_more_images_than_the_source_holds_is_refused_naming_the_key_and_the_count(source_root, tmp_path):
    with pytest.raises(DataError, match=rf"data.num_images: {COUNT + 1} images asked for, .* holds {COUNT}"):
        build_folder(source_root, tmp_path / "cache", num_images=COUNT + 1)


def test_validate_refuses_too_large_a_subset_before_training(source_root, tmp_path, run_cli):
    recipe = write_recipe_with_data(
        tmp_path / "recipe.toml", {"name": "image-folder", "root": str(source_root), "image_size": 16, "num_images": 50}
    )
    result = run_cli("validate", recipe)
    assert result.exit_code == 3 and "data.num_images: 50 images asked for" in result.output
    assert f"holds {COUNT}" in result.output


def test_labels_follow_the_subset(tmp_path):
    images = faces(12)
    root = write_folder(
        tmp_path / "classes",
        {f"{'cat' if i % 3 else 'dog'}/{name}": data for i, (name, data) in enumerate(images.items())},
    )
    dataset = build_folder(root, tmp_path / "cache", labels="folders", num_images=4, subset_seed=5)
    classes = dataset.label_space.attributes[0].values
    assert classes == ("cat", "dog")
    assert [classes[i] for i in dataset.labels[:, 0].tolist()] == [n.split("/")[0] for n in dataset.source.names]


def test_a_celeba_subset_of_a_split_holds_out_the_rest_of_that_split(tmp_path):
    root = write_folder(tmp_path / "celeba", celeba_files(12, "img_align_celeba/"))
    (root / "list_eval_partition.txt").write_text(partition_text([0] * 8 + [1] * 2 + [2] * 2), "utf-8")
    config = celeba.CelebAConfig(
        root=str(root),
        image_size=16,
        crop=40,
        workers=1,
        split="train",
        cache_dir=str(tmp_path / "cache"),
        num_images=3,
    )
    training = celeba.build(config, CONTEXT)
    held_out = training.held_out()
    train_split = {f"{i:06d}.jpg" for i in range(1, 9)}
    assert len(training.source.names) == 3 and len(held_out.source.names) == 5
    assert set(training.source.names) | set(held_out.source.names) == train_split
    assert held_out.describe()["source_images"] == 8
