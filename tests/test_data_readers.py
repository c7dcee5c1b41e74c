"""The ``celeba`` and ``image-folder`` readers on the layouts users download, and on broken files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from data_layouts import celeba_files, jpeg_bytes, partition_text, write_folder, write_recipe_with_data, write_zip

from ganlab.common.errors import DataError
from ganlab.contracts.engine import BuildContext
from ganlab.data import celeba, folder

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"))


@pytest.fixture
def build_celeba(tmp_path: Path):
    def build(root: Path, **settings):
        config = celeba.CelebAConfig(
            root=str(root), image_size=16, crop=40, workers=1, cache_dir=str(tmp_path / "cache"), **settings
        )
        return celeba.build(config, CONTEXT)

    return build


@pytest.fixture
def build_folder(tmp_path: Path):
    def build(root: Path, **settings):
        config = folder.ImageFolderConfig(
            root=str(root), image_size=16, workers=1, cache_dir=str(tmp_path / "cache"), **settings
        )
        return folder.build(config, CONTEXT)

    return build


def all_images(dataset) -> torch.Tensor:
    return dataset.get_batch(torch.arange(len(dataset)))


def test_celeba_reads_the_folder_that_holds_img_align_celeba(tmp_path, build_celeba):
    write_folder(tmp_path / "celeba", celeba_files(6, "img_align_celeba/"))
    dataset = build_celeba(tmp_path / "celeba")
    images = all_images(dataset)
    assert images.shape == (6, 3, 16, 16) and images.dtype == torch.uint8
    assert len({tuple(image.flatten().tolist()) for image in images}) == 6


def test_celeba_reads_img_align_celeba_itself(tmp_path, build_celeba):
    write_folder(tmp_path / "img_align_celeba", celeba_files(5))
    assert len(build_celeba(tmp_path / "img_align_celeba")) == 5


def test_celeba_reads_the_official_zip_without_extracting_it(tmp_path, build_celeba):
    write_folder(tmp_path / "unzipped", celeba_files(6, "img_align_celeba/"))
    archive = write_zip(tmp_path / "img_align_celeba.zip", celeba_files(6, "img_align_celeba/"))
    from_zip = build_celeba(archive)
    assert torch.equal(all_images(from_zip), all_images(build_celeba(tmp_path / "unzipped")))
    assert not (tmp_path / "img_align_celeba").exists()


def test_celeba_finds_the_zip_in_the_folder_given_as_root(tmp_path, build_celeba):
    write_zip(tmp_path / "data" / "img_align_celeba.zip", celeba_files(4, "img_align_celeba/"))
    assert len(build_celeba(tmp_path / "data")) == 4


def test_celeba_reads_the_kaggle_zip_and_its_csv_partition(tmp_path, build_celeba):
    files = celeba_files(6, "img_align_celeba/img_align_celeba/")
    files["list_eval_partition.csv"] = (
        "image_id,partition\n" + partition_text([0, 0, 0, 1, 1, 2]).replace(" ", ",")
    ).encode()
    files["list_attr_celeba.csv"] = b"image_id,Smiling\n000001.jpg,1\n"
    archive = write_zip(tmp_path / "archive.zip", files)
    assert len(build_celeba(archive)) == 6
    assert len(build_celeba(archive, split="valid")) == 2


def test_celeba_honours_the_split_of_a_torchvision_root(tmp_path, build_celeba):
    root = write_folder(tmp_path / "torchvision", celeba_files(7, "celeba/img_align_celeba/"))
    (root / "celeba" / "list_eval_partition.txt").write_text(partition_text([0, 0, 0, 0, 1, 1, 2]))
    sizes = {split: len(build_celeba(root, split=split)) for split in ("train", "valid", "test", "all")}
    assert sizes == {"train": 4, "valid": 2, "test": 1, "all": 7}


def test_a_split_without_a_partition_file_says_what_is_missing(tmp_path, build_celeba):
    write_folder(tmp_path / "celeba", celeba_files(3, "img_align_celeba/"))
    with pytest.raises(DataError, match="list_eval_partition.txt") as error:
        build_celeba(tmp_path / "celeba", split="test")
    assert "data.split" in str(error.value)


def test_a_missing_celeba_says_where_it_looked_and_how_to_get_it(tmp_path, build_celeba):
    with pytest.raises(DataError) as error:
        build_celeba(tmp_path / "nowhere")
    message = str(error.value)
    assert "nowhere" in message
    assert "mmlab.ie.cuhk.edu.hk" in message and "kaggle.com" in message


def test_image_folder_reads_a_zip_recursively_in_any_pillow_format(tmp_path, build_folder):
    jpegs, pngs = jpeg_bytes(3, seed=1), jpeg_bytes(2, seed=2, fmt="PNG")
    files = {f"people/a/{i}.jpg": data for i, data in enumerate(jpegs)}
    files.update({f"people/b/deeper/{i}.png": data for i, data in enumerate(pngs)})
    files.update({"people/README.txt": b"not an image", "__MACOSX/people/a/._0.jpg": b"resource fork"})
    dataset = build_folder(write_zip(tmp_path / "people.zip", files))
    assert len(dataset) == 5
    assert dataset.describe()["skipped"] == 0


def test_corrupt_and_truncated_files_are_skipped_and_named_in_one_warning(tmp_path, build_folder, caplog):
    good = jpeg_bytes(4)
    files = {f"{i}.jpg": data for i, data in enumerate(good)}
    files.update({"corrupt.jpg": b"this is not a jpeg", "truncated.jpg": good[0][: len(good[0]) // 2]})
    write_folder(tmp_path / "images", files)
    with caplog.at_level(logging.WARNING, logger="ganlab.data"):
        dataset = build_folder(tmp_path / "images")
        assert len(dataset) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "corrupt.jpg" in warnings[0] and "truncated.jpg" in warnings[0] and "2 of 6" in warnings[0]
    listing = (dataset.cache_path / "skipped.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listing) == ["corrupt.jpg", "truncated.jpg"]


def test_bad_files_fail_the_data_set_when_the_recipe_says_so(tmp_path, build_folder):
    files = {"0.jpg": jpeg_bytes(1)[0], "broken.jpg": b"\xff\xd8\xff garbage"}
    dataset = build_folder(write_folder(tmp_path / "images", files), on_bad_image="fail")
    with pytest.raises(DataError, match="broken.jpg") as error:
        len(dataset)
    assert "on_bad_image" in str(error.value)


def test_a_folder_of_nothing_but_broken_images_is_an_error(tmp_path, build_folder):
    dataset = build_folder(write_folder(tmp_path / "images", {"a.jpg": b"x", "b.png": b"y"}))
    with pytest.raises(DataError, match="none of the 2 files"):
        len(dataset)


def test_validate_reports_a_missing_path_before_training(run_cli, tmp_path):
    recipe = write_recipe_with_data(
        tmp_path / "absent.toml",
        {"name": "image-folder", "root": str(tmp_path / "absent"), "cache_dir": str(tmp_path / "cache")},
    )
    result = run_cli("validate", recipe)
    assert result.exit_code == 3
    assert "absent" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_validate_reports_an_empty_data_set_before_training(run_cli, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    recipe = write_recipe_with_data(
        tmp_path / "empty.toml",
        {"name": "image-folder", "root": str(tmp_path / "empty"), "cache_dir": str(tmp_path / "cache")},
    )
    result = run_cli("validate", recipe)
    assert result.exit_code == 3
    assert "no images found" in result.output
