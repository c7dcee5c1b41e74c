"""Pytest fixtures for testing ganlab plugins (and ganlab itself). Opt in with one line in the top-level
conftest.py of your tests::

    pytest_plugins = ["ganlab.testing"]

or with ``addopts = "-p ganlab.testing"`` under ``[tool.pytest.ini_options]``. Nothing here is loaded into
pytest sessions that do not ask for it. The fixtures:

``plugins``          ``Plugins``: a fresh plugin manager with ganlab's built-in plugins only
``register_plugin``  ``register_plugin(obj, name=None) -> Plugins``: built-ins plus ``obj`` (and any plugin
                     registered before in the same test), named ``name`` or ``obj.__name__`` or its class's
                     name; for the rest of the test the ``ganlab`` CLI sees exactly these plugins (their
                     components and their commands), whatever else is installed
``write_recipe``     ``write_recipe(changes=None, name="recipe.toml") -> Path``: a recipe that trains in
                     about a second on a CPU (16x16 synthetic faces, tiny networks), deep-merged with
                     ``changes`` (see :func:`merge`), written to ``tmp_path / name``
``train_recipe``     ``train_recipe(path, *overrides) -> RunDir``: ``ganlab run`` a recipe (each override a
                     ``"KEY=VALUE"`` string for ``--set``, e.g. ``*SHRINK``) into ``tmp_path / "runs"``;
                     fails the test with the CLI's output if the run does not exit with 0
``run_cli``          ``run_cli(*args) -> click.testing.Result``: invoke the ``ganlab`` command in-process,
                     each argument turned into a string; exceptions other than the CLI's exit propagate

and two values: :data:`TINY_RECIPE` (what ``write_recipe`` starts from) and :data:`SHRINK` (overrides that
shrink a quickstart-style recipe to test size).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from .cli import main as cli
from .common import tomlwrite
from .loading.manager import Plugins, load_plugins, load_plugins_or_warn
from .rundir.rundir import RunDir

TINY_RECIPE: dict[str, Any] = {
    "experiment": {"name": "tiny", "seed": 0, "device": "cpu"},
    "data": {"name": "synthetic-faces", "image_size": 16, "num_images": 64, "seed": 0},
    "generator": {"name": "dcgan", "latent_dim": 8, "features": 4},
    "discriminator": {"name": "dcgan", "features": 4},
    "loss": {"name": "bce", "real_label": 0.9},
    "optimizer": {
        "generator": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
        "discriminator": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
    },
    "init": {"name": "dcgan-normal"},
    "train": {"epochs": 2, "batch_size": 16, "num_workers": 0, "log_every": 2, "grid_size": 16},
}
"""A complete recipe small enough for a unit test: 64 images of 16x16, 4 steps per epoch, 2 epochs."""


SHRINK: tuple[str, ...] = (
    "experiment.device=cpu",
    "data.image_size=16",
    "data.num_images=160",
    "generator.latent_dim=8",
    "generator.features=4",
    "discriminator.features=4",
    "train.epochs=1",
    "train.batch_size=16",
    "train.num_workers=0",
    "train.log_every=2",
    "train.grid_size=16",
)
"""``--set`` overrides that shrink a quickstart-style recipe (synthetic faces, DCGAN-shaped networks with
``features``) to unit-test size while keeping its components: one epoch of 10 batches of 16x16 images."""


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, tables recursively, so a test states only what it varies.

    A table naming another component (a different ``name``) replaces the old table instead: the old
    settings belong to the old component and would be unknown keys to the new one.
    """
    out = dict(base)
    for key, value in changes.items():
        old = out.get(key)
        if _same_table(old, value):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def _same_table(old: Any, new: Any) -> bool:
    return isinstance(old, dict) and isinstance(new, dict) and new.get("name", old.get("name")) == old.get("name")


@pytest.fixture
def plugins() -> Plugins:
    """Built-in plugins only: installed third-party plugins cannot change what a test sees."""
    return load_plugins(entry_points=False)


@pytest.fixture
def register_plugin(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Plugins]:
    registered: list[tuple[str, object]] = []

    def register(plugin: object, name: str | None = None) -> Plugins:
        registered.append((name or getattr(plugin, "__name__", type(plugin).__name__), plugin))
        # the loader that the CLI's load_plugins_or_warn calls, wherever that function lives
        monkeypatch.setattr(
            sys.modules[load_plugins_or_warn.__module__],
            "load_plugins",
            functools.partial(load_plugins, list(registered), entry_points=False),
        )
        return load_plugins(list(registered), entry_points=False)

    return register


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    def write(changes: dict[str, Any] | None = None, name: str = "recipe.toml") -> Path:
        path = tmp_path / name
        path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, changes or {})), "utf-8")
        return path

    return write


@pytest.fixture
def train_recipe(tmp_path: Path, run_cli: Callable[..., Result]) -> Callable[..., RunDir]:
    def train(path: Path, *overrides: str) -> RunDir:
        args = [a for override in overrides for a in ("--set", override)]
        result = run_cli("run", path, *args, "--out", tmp_path / "runs", "--no-progress")
        if result.exit_code != 0:
            pytest.fail(f"ganlab run {path} exited with {result.exit_code}:\n{result.output}")
        return RunDir.open(result.stdout.strip().splitlines()[-1])

    return train


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    def invoke(*args: Any) -> Result:
        return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)

    return invoke
