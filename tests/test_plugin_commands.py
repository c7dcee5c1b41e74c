"""Plugins add ``ganlab`` sub-commands with the ``ganlab_register_commands`` hook: the commands are listed and
run like ganlab's own, under the same error handling, and can never replace one of ganlab's."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import click
import pytest

from ganlab import DataError, hookimpl
from ganlab.cli.main import main as cli_main
from ganlab.loading.manager import BUILTIN_COMMANDS, load_plugins_or_warn


class ImageCounter:
    """A third-party plugin that adds ``ganlab count-images FOLDER [--suffix .png]``."""

    @hookimpl
    def ganlab_register_commands(self, cli):
        @cli.command("count-images")
        @click.argument("folder", type=click.Path(path_type=Path))
        @click.option("--suffix", default=".png", show_default=True, help="Count the files with this suffix.")
        def count_images(folder: Path, suffix: str) -> None:
            """Count the images in FOLDER."""
            if not folder.is_dir():
                raise DataError(f"{str(folder)!r} is not a folder")
            click.echo(f"{sum(1 for path in folder.iterdir() if path.suffix == suffix)} images")


class Impostor:
    """A plugin whose command takes the name of one of ganlab's."""

    @hookimpl
    def ganlab_register_commands(self, cli):
        @cli.command("list")
        def list_everything() -> None:
            """Not ganlab's list."""
            click.echo("impostor")


class BrokenCommands:
    """A plugin whose command hook fails half way, after adding a command."""

    @hookimpl
    def ganlab_register_commands(self, cli):
        @cli.command("half-done")
        def half_done() -> None:
            """Never reachable."""

        raise RuntimeError("missing optional dependency 'rich'")


class Stopper:
    """A plugin whose command is stopped by SIGTERM while it works."""

    @hookimpl
    def ganlab_register_commands(self, cli):
        @cli.command("wait")
        def wait() -> None:
            """Stand in for a long job that the batch system stops."""
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("0001.png", "0002.png", "0003.jpg", "notes.txt"):
        (folder / name).write_bytes(b"")
    return folder


def test_hook_ganlab_register_commands_adds_a_command_that_help_lists(register_plugin, run_cli):
    register_plugin(ImageCounter(), "image-counter")
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "count-images  Count the images in FOLDER." in result.stdout
    assert "validate" in result.stdout, "ganlab's own commands are still listed"


def test_a_plugin_command_runs_with_its_arguments_and_options(register_plugin, run_cli, image_folder):
    register_plugin(ImageCounter(), "image-counter")
    assert run_cli("count-images", image_folder).stdout == "2 images\n"
    assert run_cli("count-images", image_folder, "--suffix", ".jpg").stdout == "1 images\n"


def test_a_plugin_commands_ganlab_error_gives_its_exit_code_and_message_without_a_traceback(
    register_plugin, run_cli, tmp_path
):
    register_plugin(ImageCounter(), "image-counter")
    result = run_cli("count-images", tmp_path / "missing")
    assert result.exit_code == DataError.exit_code
    assert result.stderr == f"ganlab: error: {str(tmp_path / 'missing')!r} is not a folder\n"


def test_a_plugin_command_stopped_by_sigterm_exits_with_143(register_plugin, run_cli):
    register_plugin(Stopper(), "stopper")
    result = run_cli("wait")
    assert result.exit_code == 143
    assert "ganlab: interrupted by SIGTERM" in result.stderr and "Traceback" not in result.output


def test_a_command_that_clashes_with_a_built_in_is_reported_naming_both_and_the_built_in_runs(register_plugin, run_cli):
    register_plugin(Impostor(), "impostor")
    result = run_cli("list", "loss")
    assert result.exit_code == 0
    assert "bce-minimax" in result.stdout and "impostor" not in result.stdout
    assert (
        "ganlab: warning: plugin 'impostor' failed to register: PluginError: command 'list' is added twice: "
        "by ganlab (built-in) and by plugin 'impostor' (skipped)" in result.stderr
    )


def test_a_command_that_clashes_with_a_built_in_is_reported_when_plugins_load_outside_the_command_line(
    register_plugin, run_cli
):
    clash = "command 'list' is added twice: by ganlab (built-in) and by plugin 'impostor'"
    plugins = register_plugin(Impostor(), "impostor")
    assert [(f.plugin, f.stage) for f in plugins.failures] == [("impostor", "register")]
    assert clash in plugins.failures[0].error and "list" not in plugins.commands
    listed = json.loads(run_cli("plugins", "--json").stdout)
    assert {"name": "impostor", "stage": "register", "error": f"PluginError: {clash}"} in listed["failures"]


def test_ganlab_s_own_commands_are_the_ones_no_plugin_may_take():
    assert sorted(BUILTIN_COMMANDS) == sorted(cli_main.commands)


def test_a_command_that_another_plugin_added_first_is_reported_naming_both(register_plugin, run_cli, image_folder):
    register_plugin(ImageCounter(), "image-counter")
    register_plugin(ImageCounter(), "copycat")
    result = run_cli("count-images", image_folder)
    assert result.stdout == "2 images\n"
    assert "command 'count-images' is added twice: by plugin 'image-counter' and by plugin 'copycat'" in result.stderr


def test_in_strict_mode_a_clashing_command_is_fatal(register_plugin, run_cli, monkeypatch):
    register_plugin(Impostor(), "impostor")
    monkeypatch.setenv("GANLAB_STRICT_PLUGINS", "1")
    result = run_cli("--help")
    assert result.exit_code == 4
    assert "command 'list' is added twice" in result.stderr and "Traceback" not in result.output


def test_a_plugin_whose_command_hook_raises_is_skipped_and_other_commands_work(register_plugin, run_cli, image_folder):
    register_plugin(BrokenCommands(), "broken-commands")
    register_plugin(ImageCounter(), "image-counter")
    result = run_cli("count-images", image_folder)
    assert result.stdout == "2 images\n"
    assert (
        "plugin 'broken-commands' failed to register: RuntimeError: missing optional dependency 'rich' "
        "(skipped)" in result.stderr
    )
    assert "half-done" not in run_cli("--help").stdout


def test_a_disabled_plugins_commands_are_absent(register_plugin, run_cli, image_folder, monkeypatch):
    register_plugin(ImageCounter(), "image-counter")
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "image-counter")
    assert "count-images" not in run_cli("--help").stdout
    result = run_cli("count-images", image_folder)
    assert result.exit_code == 2 and "No such command 'count-images'" in result.stderr


def test_plugins_lists_each_plugins_commands(register_plugin, run_cli):
    register_plugin(ImageCounter(), "image-counter")
    rows = {row["name"]: row for row in json.loads(run_cli("plugins", "--json").stdout)["plugins"]}
    assert rows["image-counter"]["commands"] == ["count-images"]
    assert rows["image-counter"]["hooks"] == ["ganlab_register_commands"]
    assert rows["ganlab.components.dcgan"]["commands"] == []
    listing = run_cli("plugins").stdout
    assert "  hooks: ganlab_register_commands\n  components: -\n  commands: count-images\n" in listing


def test_a_command_line_loads_the_plugins_once(register_plugin, run_cli, image_folder):
    loads = []

    class LoadCounter:
        @hookimpl
        def ganlab_register(self, registry):
            loads.append(1)

        @hookimpl
        def ganlab_register_commands(self, cli):
            @cli.command("plugin-count")
            def plugin_count() -> None:
                """How many plugins this command line loaded."""
                click.echo(len(load_plugins_or_warn().infos))

    register_plugin(LoadCounter(), "load-counter")
    loads.clear()
    for args in (["--help"], ["plugin-count"], ["list", "loss"]):
        assert run_cli(*args).exit_code == 0
        assert len(loads) == 1, f"ganlab {' '.join(args)} loaded the plugins {len(loads)} times"
        loads.clear()
