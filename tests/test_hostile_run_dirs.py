"""Hostile run directories, checkpoints and output places: checkpoints that do not fit the installed networks,
folders moved away or replaced, places that cannot be written, sizes and seeds out of range. Each ends in
its message and exit code, never a traceback, and a refused command leaves every file of the run as it was."""

from __future__ import annotations

import errno
import html
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from resume_helpers import RunningMeanPlugin

from conftest import TINY_RECIPE, merge
from ganlab.cli import main as cli
from ganlab.common import tomlwrite
from ganlab.compare.page import build_page, compare
from ganlab.loading import manager as plugins
from ganlab.loading.manager import load_plugins
from ganlab.rundir.checkpoints import CheckpointStore, load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.training.generate import image_batches, images, load_generator

OTHER, USAGE, RUN, CHECKPOINT = 1, 2, 5, 6


def with_running_mean(**options):
    """ganlab's built-in plugins and the one whose evaluator keeps a state of its own."""
    return load_plugins([("running-mean", RunningMeanPlugin())], entry_points=False, **options)


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    """A finished tiny run of 2 epochs that keeps EMA weights and an evaluator with state of its own."""
    folder = tmp_path_factory.mktemp("trained")
    recipe = folder / "recipe.toml"
    recipe.write_text(
        tomlwrite.dumps(merge(TINY_RECIPE, {"train": {"ema": 0.9}, "evaluators": [{"name": "running-mean"}]}))
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plugins, "load_plugins", with_running_mean)
        result = CliRunner().invoke(cli.main, ["run", str(recipe), "--out", str(folder / "runs"), "--no-progress"])
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


@pytest.fixture
def run(trained_once, tmp_path, register_plugin) -> Path:
    """A copy of the trained run of this test's own, with the plugin it was trained with installed."""
    register_plugin(RunningMeanPlugin(), "running-mean")
    return Path(shutil.copytree(trained_once, tmp_path / trained_once.name))


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes: what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(result, exit_code: int, *messages: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "ganlab: error: " in result.output
    for message in messages:
        assert message in result.output


def rewrite_newest_checkpoint(run: Path, change: Callable[[dict], None]) -> None:
    """Change the newest checkpoint as an upgrade of ganlab or a plugin would have, and record it in the
    manifest as intact, so that only its fit to the installed networks is in question."""
    store = CheckpointStore(run / "checkpoints")
    state = load_checkpoint(store.directory / "epoch_0002.pt")
    change(state)
    store.save("epoch_0002.pt", state)


def narrowed(tensors: dict) -> dict:
    return {name: value[..., :1] if value.ndim else value for name, value in tensors.items()}


def moments_swapped(state: dict) -> None:
    """The generator optimizer's moments of its first two parameters swapped, as when an upgrade orders the
    network's parameters differently: the counts still match, the shapes do not."""
    moments = state["optimizer_g"]["state"]
    moments[0], moments[1] = moments[1], moments[0]


MISFITS = {
    "generator weights of another shape": (
        lambda s: s.update(generator=narrowed(s["generator"])),
        "its 'generator' does not fit the 'dcgan' generator installed here",
        "in the checkpoint, [",
    ),
    "discriminator weights of another shape": (
        lambda s: s.update(discriminator=narrowed(s["discriminator"])),
        "its 'discriminator' does not fit the 'dcgan' discriminator installed here",
        "in the checkpoint, [",
    ),
    "optimizer moments of another shape": (
        moments_swapped,
        "its 'optimizer_g' does not fit the 'adam' optimizer of the generator",
        "exp_avg of net.0.weight has shape [8], the parameter [8, 8, 4, 4]",
    ),
    "no EMA weights though the recipe keeps them": (
        lambda s: s.pop("ema"),
        "its 'ema' does not fit",
        "the checkpoint has no 'ema'",
    ),
    "an evaluator state that does not fit the evaluator": (
        lambda s: s["evaluators"].update({"evaluators[0]": {"sum": 1.0}}),
        "its 'evaluators' does not fit the 'running-mean' evaluator of evaluators[0]",
        "'total'",
    ),
    "no discriminator at all": (lambda s: s.pop("discriminator"), "the checkpoint has no 'discriminator'"),
    "a step count that is text": (
        lambda s: s.update(step="8"),
        "its 'step' does not fit a counter of the run",
        "expected a whole number of at least 0, got '8'",
    ),
    "fixed noise of another latent size": (
        lambda s: s.update(fixed_noise=torch.zeros(16, 9)),
        "its 'fixed_noise' does not fit",
        "expected a tensor of shape [16, 8], got [16, 9]",
    ),
    "random states of another kind": (lambda s: s["rng"].update(torch=torch.zeros(3)), "its 'rng' does not fit"),
}


@pytest.mark.parametrize("misfit", MISFITS.values(), ids=MISFITS.keys())
def test_resuming_from_a_checkpoint_that_does_not_fit_names_it_and_changes_nothing(run, run_cli, misfit):
    change, *messages = misfit
    rewrite_newest_checkpoint(run, change)
    before = files(run)
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    refused(result, CHECKPOINT, f"checkpoint {str(run / 'checkpoints' / 'epoch_0002.pt')!r}", *messages)
    assert files(run) == before


def test_evaluating_a_checkpoint_that_does_not_fit_names_it(run, run_cli):
    rewrite_newest_checkpoint(run, MISFITS["generator weights of another shape"][0])
    result = run_cli("evaluate", run, "--metric", "swd", "--checkpoint", "2", "--num-samples", "8")
    refused(result, CHECKPOINT, "epoch_0002.pt': its 'generator' does not fit the 'dcgan' generator")


def test_generating_without_the_ema_weights_the_recipe_keeps_names_the_missing_key(run, run_cli, tmp_path):
    rewrite_newest_checkpoint(run, MISFITS["no EMA weights though the recipe keeps them"][0])
    result = run_cli("generate", run, "--num", 4, "-o", tmp_path / "x.png")
    refused(result, CHECKPOINT, "epoch_0002.pt': its 'ema' does not fit")
    assert not (tmp_path / "x.png").exists()


def test_comparing_a_run_whose_generator_does_not_fit_shows_why_beside_its_saved_grid(run, trained_once):
    rewrite_newest_checkpoint(run, lambda s: s.update(ema=narrowed(s["ema"])))
    page = build_page(compare([RunDir.open(trained_once), RunDir.open(run)]), with_running_mean())
    assert html.escape("epoch_0002.pt': its 'ema' does not fit the 'dcgan' generator installed here") in page
    assert "its own saved grid after epoch 2" in page


def test_a_resume_after_the_checkpoints_were_moved_away_restarts_and_checkpoints_again(run, run_cli):
    shutil.move(run / "checkpoints", run.parent / "saved-checkpoints")
    result = run_cli("run", "--resume", run, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "no valid checkpoint; the run starts again from step 0" in result.output
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    assert [r["step"] for r in RunDir(run).read_metrics()][-1] == 8


def test_a_file_where_a_run_folder_belongs_stops_a_resume_before_anything_changes(run, run_cli):
    shutil.rmtree(run / "samples")
    (run / "samples").write_text("not a folder")
    before = files(run)
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    refused(result, RUN, f"{str(run / 'samples')!r} is a file, not a folder")
    assert files(run) == before


def test_a_log_that_cannot_be_read_stops_a_resume_before_any_log_is_cut(run, run_cli):
    (run / "evaluators" / "a-plugin").mkdir()
    (run / "evaluators" / "a-plugin" / "log.jsonl").write_bytes(b'{"step": 1, "note": "\xff\xfe"}\n')
    before = files(run)
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    refused(result, RUN, "its log evaluators/a-plugin/log.jsonl cannot be read (it is not UTF-8 text)")
    assert files(run) == before


def refuse_writes_in(folder: Path, monkeypatch) -> None:
    """Make ``folder`` behave as if on a read-only mount for the probe every writer makes (root would
    otherwise write anywhere)."""
    import ganlab.rundir.rundir

    real = ganlab.rundir.rundir.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(ganlab.rundir.rundir.tempfile, "mkstemp", read_only)


def test_a_folder_where_the_runs_log_belongs_stops_evaluate_before_scoring(run, run_cli):
    (run / "evaluations.jsonl").unlink()
    (run / "evaluations.jsonl").mkdir()
    result = run_cli("evaluate", run, "--metric", "swd", "--checkpoint", "2", "--num-samples", "8")
    refused(result, RUN, "evaluations.jsonl is a folder; it must be the run's file")


def test_an_unwritable_checkpoints_folder_stops_a_resume_before_anything_changes(run, run_cli, monkeypatch):
    refuse_writes_in(run / "checkpoints", monkeypatch)
    before = files(run)
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    refused(result, RUN, f"cannot write in {str(run / 'checkpoints')!r}: Read-only file system")
    assert files(run) == before


def test_an_unreadable_meta_json_stops_a_resume_before_anything_changes(run, run_cli):
    (run / "meta.json").write_text("{ cut short")
    before = files(run)
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    refused(result, RUN, "meta.json is unreadable")
    assert files(run) == before


@pytest.fixture
def read_only_lock(run, monkeypatch) -> None:
    """The run's lock file cannot be opened for writing, as on a read-only mount."""
    real = os.open

    def read_only(path, flags, *args, **kwargs):
        if Path(path) == run / ".lock":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)


@pytest.mark.parametrize(
    "command",
    [
        ("run", "--resume", "{run}", "--no-progress", "--set", "train.epochs=3"),
        ("evaluate", "{run}", "--metric", "swd", "--num-samples", "8"),
    ],
    ids=["resume", "evaluate"],
)
def test_a_run_on_a_read_only_mount_is_refused(run, run_cli, read_only_lock, command):
    before = files(run)
    result = run_cli(*[part.format(run=run) for part in command])
    refused(result, RUN, f"cannot write to run {str(run)!r}: Read-only file system")
    assert files(run) == before


OUTPUTS = {
    "-o onto an existing folder": (lambda tmp: ["-o", tmp], "is a folder; give the path of the PNG file"),
    "-o below a file": (lambda tmp: ["-o", tmp / "a-file" / "x.png"], "a-file' is a file, not a folder"),
    "--out-dir onto an existing file": (lambda tmp: ["--out-dir", tmp / "a-file"], "is a file, not a folder"),
    "--out-dir below a file": (lambda tmp: ["--out-dir", tmp / "a-file" / "each"], "Not a directory"),
}


@pytest.mark.parametrize("where, message", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_generate_into_a_place_that_cannot_take_its_output_is_refused(trained_once, run_cli, tmp_path, where, message):
    (tmp_path / "a-file").write_text("a user's file")
    result = run_cli("generate", trained_once, "--num", 4, *where(tmp_path))
    refused(result, RUN, message)
    assert (tmp_path / "a-file").read_text() == "a user's file"


def test_generate_into_a_read_only_folder_is_refused(trained_once, run_cli, tmp_path, monkeypatch):
    refuse_writes_in(tmp_path / "shared", monkeypatch)
    result = run_cli("generate", trained_once, "--num", 4, "-o", tmp_path / "shared" / "x.png")
    refused(result, RUN, f"-o: cannot write in {str(tmp_path / 'shared')!r}: Read-only file system")


@pytest.mark.parametrize(
    "layout",
    [lambda tmp: ["-o", tmp / "grid.png"], lambda tmp: ["--interpolate", "--out-dir", tmp / "each"]],
    ids=["grid", "interpolation"],
)
def test_generating_more_images_than_memory_holds_is_refused_before_drawing(trained_once, run_cli, tmp_path, layout):
    result = run_cli("generate", trained_once, "--num", 10**9, *layout(tmp_path))
    refused(result, OTHER, "--num 1000000000:", "of 3x16x16 needs about", "of memory at once", "available")
    assert not (tmp_path / "grid.png").exists()


def test_images_made_in_batches_are_the_images_made_at_once(trained_once):
    generator, _, _ = load_generator(RunDir.open(trained_once), with_running_mean(), torch.device("cpu"))
    at_once = images(generator, 600, 7, torch.device("cpu"))
    in_batches = torch.cat(list(image_batches(generator, 600, 7, torch.device("cpu"), batch=512)))
    assert torch.equal(at_once, in_batches)


@pytest.mark.parametrize("option", ["--seed", "--to-seed"])
@pytest.mark.parametrize("seed", [2**32, 2**64, -1])
def test_a_seed_outside_the_recipe_seed_range_is_refused(trained_once, run_cli, tmp_path, option, seed):
    result = run_cli("generate", trained_once, "--interpolate", "-o", tmp_path / "x.png", option, seed)
    assert result.exit_code == USAGE
    assert f"Invalid value for '{option}': {seed} is not in the range 0<=x<=4294967295" in result.output
    assert "Traceback" not in result.output


def test_the_largest_seed_interpolates_towards_seed_zero(trained_once, run_cli, tmp_path):
    result = run_cli(
        "generate", trained_once, "--interpolate", "--num", 3, "-o", tmp_path / "x.png", "--seed", 2**32 - 1
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.png").is_file()


@pytest.mark.parametrize("command", [["run", "--resume"], ["evaluate"], ["generate"]])
def test_a_manifest_entry_of_the_wrong_type_is_a_checkpoint_error_that_changes_nothing(run, run_cli, command):
    manifest = run / "checkpoints" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"step": 8', '"step": "8"'))
    before = files(run)
    result = run_cli(*command, run, *(["-o", run.parent / "x.png"] if command == ["generate"] else []))
    refused(result, CHECKPOINT, "manifest.json", "step is '8'")
    assert files(run) == before


DEEP = "[" * 100_000 + "]" * 100_000
"""JSON nested deeper than Python's parser recurses."""


@pytest.mark.parametrize(
    "record, command, exit_code, said",
    [
        ("meta.json", "report", RUN, "meta.json is unreadable: it is JSON nested too deep"),
        (
            "checkpoints/manifest.json",
            "generate",
            CHECKPOINT,
            "manifest.json' is unreadable (it is JSON nested too deep)",
        ),
    ],
)
def test_a_record_nested_too_deep_is_refused_naming_it(run, run_cli, tmp_path, record, command, exit_code, said):
    (run / record).write_text(DEEP)
    before = files(run)
    extra = ("-o", tmp_path / "x.png") if command == "generate" else ()
    refused(run_cli(command, run, *extra), exit_code, said)
    assert files(run) == before


def test_a_log_line_nested_too_deep_is_passed_over_with_a_warning(run, run_cli):
    with open(run / "metrics.jsonl", "a") as log:
        log.write(DEEP + "\n" + '{"step": 99, "epoch": 1}\n')
    result = run_cli("report", run)
    assert result.exit_code == 0, result.output
    assert "metrics.jsonl: skipped line" in result.output and "is not JSON" in result.output


@pytest.mark.parametrize("record", ["meta.json", "metrics.jsonl"])
def test_a_record_replaced_by_a_named_pipe_is_refused_without_waiting_on_it(run, run_cli, record):
    (run / record).unlink()
    os.mkfifo(run / record)
    refused(run_cli("report", run), RUN, f"{record}", "is a named pipe (FIFO)")


def test_more_png_files_than_the_disk_holds_are_refused_before_any_is_drawn(trained_once, run_cli, tmp_path):
    result = run_cli("generate", trained_once, "--num", 10**15, "--out-dir", tmp_path / "each")
    refused(result, OTHER, f"--num {10**15}: 1,000,000,000,000,000 PNG files do not fit in", "ask for fewer")
    assert list((tmp_path / "each").iterdir()) == []


def test_a_checkpoint_replaced_by_a_named_pipe_is_refused_without_waiting_on_it(run, run_cli, tmp_path):
    (run / "checkpoints" / "epoch_0002.pt").unlink()
    os.mkfifo(run / "checkpoints" / "epoch_0002.pt")
    result = run_cli("generate", run, "-o", tmp_path / "x.png")
    assert result.exit_code == 0, result.output
    assert "checkpoint epoch_0002.pt is a named pipe (FIFO), not a file; using the one before it" in result.output
    assert (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", [("report",), ("evaluate",), ("generate", "-o", "x.png")])
def test_a_run_path_longer_than_the_file_system_takes_is_refused_naming_it(run_cli, command):
    result = run_cli(*command, "a" * 300)
    refused(result, RUN, "(300 characters) is not a run directory (File name too long)")
