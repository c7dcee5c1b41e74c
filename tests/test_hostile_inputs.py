"""A corpus of bad inputs: each gives its expected message and exit code, and never a traceback."""

from __future__ import annotations

import pathlib
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from ganlab.common import tomlwrite
from ganlab.rundir.rundir import RunDir, safe_name

RECIPE, DATA, RUN, CHECKPOINT = 2, 3, 5, 6


def text_recipe(content: bytes) -> Callable[[Path, Callable], list]:
    def setup(tmp_path, write_recipe):
        path = tmp_path / "bad.toml"
        path.write_bytes(content)
        return ["run", path]

    return setup


def folder_data(name: str, count: int, content: bytes) -> Callable[[Path, Callable], list]:
    """A recipe whose data is an image folder of ``count`` files holding ``content`` (None: no folder)."""

    def setup(tmp_path, write_recipe):
        recipe = write_recipe()
        document = tomllib.loads(recipe.read_text())
        document["data"] = {"name": "image-folder", "image_size": 16, "root": str(tmp_path / name)}
        recipe.write_text(tomlwrite.dumps(document))
        if count is not None:
            images_folder(tmp_path, name, count, content)
        return ["run", recipe, "--out", tmp_path / "runs", "--no-progress"]

    return setup


def recipe_with(changes: dict, command: str = "run") -> Callable[[Path, Callable], list]:
    def setup(tmp_path, write_recipe):
        return [command, write_recipe(changes)]

    return setup


def images_folder(tmp_path: Path, name: str, count: int, content: bytes) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(count):
        (folder / f"face_{i:03d}.jpg").write_bytes(content)
    return str(folder)


CORPUS = {
    "malformed TOML": (text_recipe(b"[train\nepochs = 3\n"), RECIPE, "bad.toml: invalid TOML"),
    "not UTF-8": (text_recipe(b"[experiment]\nname = '\xff\xfe'\n"), RECIPE, "bad.toml: is not UTF-8 text"),
    "wrong type": (
        recipe_with({"train": {"epochs": "three"}}),
        RECIPE,
        "train.epochs: expected int, got a string ('three')",
    ),
    "unknown key": (recipe_with({"train": {"epoch": 3}}), RECIPE, "train.epoch: unknown key (did you mean 'epochs'"),
    "unknown section": (recipe_with({"trian": {}}), RECIPE, "trian: unknown section (did you mean 'train'"),
    "unknown component": (
        recipe_with({"generator": {"name": "dcgna"}}),
        RECIPE,
        "generator.name: unknown generator 'dcgna' (did you mean 'dcgan'",
    ),
    "negative size": (
        recipe_with({"train": {"batch_size": -4}}),
        RECIPE,
        "train.batch_size: must be at least 1, got -4",
    ),
    "zero epochs": (recipe_with({"train": {"epochs": 0}}), RECIPE, "train.epochs: must be at least 1, got 0"),
    "negative checkpoint interval": (
        recipe_with({"checkpoint": {"every_steps": -1}}),
        RECIPE,
        "checkpoint.every_steps: must be at least 0, got -1",
    ),
    "image size the model cannot make": (
        recipe_with({"data": {"image_size": 20}}),
        RECIPE,
        "data.image_size: DCGAN makes power-of-two images",
    ),
    "batch larger than the data": (
        recipe_with({"train": {"batch_size": 128}}),
        RECIPE,
        "train.batch_size: 128 is larger than the data set (64 images)",
    ),
    "missing data": (folder_data("nowhere", None, b""), DATA, "nowhere' does not exist"),
    "empty data": (folder_data("empty", 0, b""), DATA, "data.root: no images"),
    "corrupt images": (folder_data("corrupt", 32, b"\xff\xd8 not really a jpeg"), DATA, "could be read as an image"),
    "recipe is a directory": (
        lambda tmp_path, write_recipe: ["run", tmp_path],
        RECIPE,
        "is a directory, not a TOML recipe",
    ),
    "missing recipe": (
        lambda tmp_path, write_recipe: ["run", tmp_path / "nope.toml"],
        RECIPE,
        "nope.toml: no such file",
    ),
    "output folder is a file": (
        lambda tmp_path, write_recipe: ["run", write_recipe(), "--out", tmp_path / "recipe.toml"],
        RUN,
        "cannot create output folder",
    ),
    "resume of a folder that is not a run": (
        lambda tmp_path, write_recipe: ["run", "--resume", tmp_path],
        RUN,
        "is not a run directory (no meta.json)",
    ),
    "generate from a folder that is not a run": (
        lambda tmp_path, write_recipe: ["generate", tmp_path, "-o", tmp_path / "x.png"],
        RUN,
        "is not a run directory",
    ),
}


@pytest.mark.parametrize("setup, exit_code, message", CORPUS.values(), ids=CORPUS.keys())
def test_bad_input_gives_its_message_and_exit_code(setup, exit_code, message, tmp_path, write_recipe, run_cli):
    result = run_cli(*setup(tmp_path, write_recipe))
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("ganlab: error: ")


def test_an_unreadable_recipe_is_reported(write_recipe, run_cli, monkeypatch):
    recipe = write_recipe()
    real = pathlib.Path.read_bytes

    def denied(self):
        if self == recipe:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", denied)  # root reads any file, so deny it here
    result = run_cli("run", recipe)
    assert result.exit_code == RECIPE
    assert "recipe.toml: cannot be read (permission denied)" in result.output


@pytest.fixture
def finished_run(write_recipe, run_cli) -> Path:
    recipe = write_recipe({"train": {"epochs": 1}})
    result = run_cli("run", recipe, "--out", recipe.parent / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def test_a_run_directory_given_as_a_recipe_points_to_resume(finished_run, run_cli):
    result = run_cli("run", finished_run)
    assert result.exit_code == RECIPE
    assert "it looks like a run directory; use --resume or its recipe.toml" in result.output


def test_a_corrupt_checkpoint_given_to_generate_is_reported(finished_run, run_cli, tmp_path):
    (finished_run / "checkpoints" / "broken.pt").write_bytes(b"PK\x03\x04 garbage")
    result = run_cli("generate", finished_run, "--checkpoint", "broken", "-o", tmp_path / "x.png")
    assert result.exit_code == CHECKPOINT
    assert "broken.pt' is corrupt or truncated" in result.output


def test_run_and_resume_together_is_a_usage_error(finished_run, write_recipe, run_cli):
    result = run_cli("run", write_recipe(), "--resume", finished_run)
    assert result.exit_code == 2
    assert "give a RECIPE to start a run, or --resume RUN_DIR to continue one" in result.output


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc", "etc"),
        ("/etc/passwd", "etc-passwd"),
        ("..", "run"),
        (".hidden", "hidden"),
        ("a b/c\\d:e*?", "a-b-c-d-e"),
        ("ünïcode 名前", "n-code"),
        ("", "run"),
    ],
)
def test_run_names_cannot_escape_the_output_folder(name, expected, tmp_path):
    assert safe_name(name) == expected
    run = RunDir.create(tmp_path / "out", name)
    run.unlock()
    assert run.path.parent == tmp_path / "out"
    assert run.name.startswith(f"{expected}-")


def test_a_hostile_name_on_the_command_line_stays_inside_out(write_recipe, run_cli, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "run", write_recipe({"train": {"epochs": 1}}), "--out", out, "--name", "../../escaped", "--no-progress"
    )
    assert result.exit_code == 0, result.output
    run = Path(result.output.strip().splitlines()[-1])
    assert run.parent == out and run.name.startswith("escaped-")
    assert not (tmp_path.parent / "escaped").exists()


def test_a_setting_with_a_byte_that_is_not_utf_8_is_a_recipe_error_before_any_run_exists(
    write_recipe, run_cli, tmp_path
):
    named = ("--set", 'experiment.name="tiny\udcff"')
    for result in (
        run_cli("validate", write_recipe(), *named),
        run_cli("run", write_recipe(), *named, "--out", tmp_path / "runs"),
    ):
        assert result.exit_code == 2, result.output
        assert "experiment.name: character 5 is not text (a byte that is not UTF-8); give it as UTF-8" in result.output
    assert not (tmp_path / "runs").exists()
