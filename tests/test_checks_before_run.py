"""Recipes refused before anything is spent: one check pass shared by validate and run, sizes checked
before memory, and input files and values at their edges. Each ends in a message and an exit code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from PIL import Image

RECIPE, DATA = 2, 3


def assert_refused(result, exit_code: int, message: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def same_but_free_memory(message: str) -> str:
    """``message`` without the free memory it quotes, which changes from one moment to the next."""
    return re.sub(r"the [\d.]+ \w+ available", "the free memory", message)


def image_folder(root: Path, count: int = 8) -> Path:
    root.mkdir()
    for i in range(count):
        Image.new("RGB", (20, 20), (i * 30, 60, 90)).save(root / f"face_{i}.png")
    return root


def folder_recipe(write_recipe, tmp_path: Path, root: Path, **data) -> Path:
    return write_recipe(
        {
            "data": {
                "name": "image-folder",
                "root": str(root),
                "image_size": 16,
                "cache_dir": str(tmp_path / "cache"),
                "workers": 1,
                **data,
            },
            "train": {"batch_size": 4},
        }
    )


REFUSED = {
    "more discriminator steps than the data allows": (
        ["--set", "train.d_steps=100"],
        "train.d_steps: 100 discriminator batches per step need 1600 images",
    ),
    "batch larger than the data": (["--set", "train.batch_size=65"], "train.batch_size: 65 is larger"),
    "image size the generator cannot make": (
        ["--set", "data.image_size=3000"],
        "data.image_size: DCGAN makes power-of-two images",
    ),
    "data set larger than memory": (
        ["--set", "data.num_images=1000000000000"],
        "data.num_images: needs about 698.49 TiB of memory",
    ),
    "progress grid larger than memory": (["--set", "train.grid_size=10000000000"], "train.grid_size: needs about"),
    "networks larger than memory": (
        ["--set", "generator.features=65536", "--set", "data.image_size=1024"],
        "generator: needs about",
    ),
    "seed beyond what torch takes": (
        ["--set", "experiment.seed=18446744073709551616"],
        "experiment.seed: must be at most 4294967295",
    ),
    "negative data seed": (["--set", "data.seed=-1"], "data.seed: must be at least 0, got -1"),
}


@pytest.mark.parametrize("overrides, message", REFUSED.values(), ids=REFUSED.keys())
def test_validate_refuses_what_run_refuses_with_the_same_message(overrides, message, write_recipe, run_cli):
    recipe = write_recipe()
    validated = run_cli("validate", recipe, *overrides)
    ran = run_cli("run", recipe, *overrides, "--out", recipe.parent / "runs", "--no-progress")
    assert_refused(validated, RECIPE, message)
    assert_refused(ran, RECIPE, message)
    assert same_but_free_memory(validated.output) == same_but_free_memory(ran.output)


@pytest.mark.parametrize("overrides", [o for o, _ in REFUSED.values()], ids=REFUSED.keys())
def test_a_refused_run_leaves_no_run_directory(overrides, write_recipe, run_cli, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    result = run_cli("run", write_recipe(), *overrides, "--out", out, "--no-progress")
    assert result.exit_code == RECIPE
    assert list(out.iterdir()) == []


def test_an_image_size_the_generator_cannot_make_is_refused_before_any_image_is_decoded(
    write_recipe, run_cli, tmp_path
):
    recipe = folder_recipe(write_recipe, tmp_path, image_folder(tmp_path / "faces"), image_size=3000)
    for args in (["validate", recipe], ["run", recipe, "--out", tmp_path / "runs"], ["data", "prepare", recipe]):
        assert_refused(run_cli(*args), RECIPE, "data.image_size: DCGAN makes power-of-two images")
    assert not (tmp_path / "cache").exists()


def test_a_data_set_that_cannot_fit_in_memory_names_its_estimate(write_recipe, run_cli):
    result = run_cli("validate", write_recipe(), "--set", "data.num_images=1000000000000")
    assert_refused(result, RECIPE, "1,000,000,000,000 images of 3x16x16: 698.49 TiB")
    assert "available; make it smaller" in result.output


def test_a_float_where_a_count_belongs_is_a_type_error(write_recipe, run_cli):
    result = run_cli("validate", write_recipe(), "--set", "data.num_images=1e12")
    assert_refused(result, RECIPE, "data.num_images: expected int, got a number (1000000000000.0)")


# -- recipe files -------------------------------------------------------------------------------------------
def test_a_recipe_that_is_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path, run_cli):
    pipe = tmp_path / "recipe.toml"
    os.mkfifo(pipe)
    assert_refused(run_cli("validate", pipe), RECIPE, "recipe.toml: is a named pipe (FIFO), not a file")


def test_a_recipe_that_is_a_device_is_refused_unread(run_cli):
    assert_refused(run_cli("run", "/dev/zero"), RECIPE, "/dev/zero: is a character device, not a file")


def test_a_recipe_that_is_a_symbolic_link_loop_is_called_one(tmp_path, run_cli):
    loop = tmp_path / "recipe.toml"
    loop.symlink_to(loop)
    assert_refused(run_cli("validate", loop), RECIPE, "recipe.toml: is a symbolic link loop")


def test_a_recipe_that_is_a_broken_link_names_its_target(tmp_path, run_cli):
    link = tmp_path / "recipe.toml"
    link.symlink_to(tmp_path / "moved.toml")
    assert_refused(run_cli("validate", link), RECIPE, "recipe.toml: is a broken symbolic link")
    assert "moved.toml" in run_cli("validate", link).output


def test_a_huge_recipe_is_refused_with_its_size(tmp_path, run_cli):
    huge = tmp_path / "recipe.toml"
    huge.write_text("# padding\n" * 200_000)
    assert_refused(run_cli("validate", huge), RECIPE, "recipe.toml: is 2,000,000 bytes, more than 1,048,576")


@pytest.mark.parametrize(
    "value", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "}" * 5000], ids=["arrays", "inline tables"]
)
def test_a_recipe_nested_thousands_deep_is_a_recipe_error(value, tmp_path, run_cli):
    recipe = tmp_path / "deep.toml"
    recipe.write_text(f"x = {value}\n")
    assert_refused(
        run_cli("validate", recipe), RECIPE, "deep.toml: invalid TOML: tables or arrays are nested more than 32 deep"
    )


def test_an_override_nested_thousands_deep_is_a_recipe_error(write_recipe, run_cli):
    result = run_cli("validate", write_recipe(), "--set", "train.epochs=" + "[" * 5000 + "]" * 5000)
    assert_refused(result, RECIPE, "--set train.epochs: the value's tables or arrays are nested more than 32")


# -- data files ---------------------------------------------------------------------------------------------
def test_a_data_root_that_is_a_named_pipe_is_refused_without_waiting(write_recipe, run_cli, tmp_path):
    pipe = tmp_path / "faces.zip"
    os.mkfifo(pipe)
    result = run_cli("validate", folder_recipe(write_recipe, tmp_path, pipe))
    assert_refused(result, DATA, "data.root: " + repr(str(pipe)) + " is a named pipe (FIFO), not a file")


def test_a_celeba_root_that_is_a_symbolic_link_loop_is_called_one(write_recipe, run_cli, tmp_path):
    loop = tmp_path / "celeba"
    loop.symlink_to(loop)
    result = run_cli("validate", write_recipe({"data": {"name": "celeba", "root": str(loop), "image_size": 16}}))
    assert_refused(result, DATA, "is a symbolic link loop")


def test_pipes_and_dead_links_among_the_images_are_skipped_by_name(write_recipe, run_cli, tmp_path, caplog):
    faces = image_folder(tmp_path / "faces")
    os.mkfifo(faces / "stream.jpg")
    (faces / "gone.jpg").symlink_to(faces / "deleted.jpg")
    result = run_cli("validate", folder_recipe(write_recipe, tmp_path, faces))
    assert result.exit_code == 0, result.output
    assert "stream.jpg (OSError: is a named pipe (FIFO), not a file)" in caplog.text
    assert "gone.jpg (OSError: is a broken symbolic link" in caplog.text
    assert "# data: 8 images" in result.output


def test_a_linked_folder_that_leads_back_up_is_listed_once(write_recipe, run_cli, tmp_path):
    faces = image_folder(tmp_path / "faces")
    (faces / "more").mkdir()
    (faces / "more" / "up").symlink_to(faces)
    result = run_cli("data", "info", folder_recipe(write_recipe, tmp_path, faces))
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.output.splitlines() if line.startswith("files")] == ["8"]
