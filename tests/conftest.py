"""Shared fixtures: tiny recipes that train in a second on a CPU, and a CLI runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from ganlab import tomlwrite
from ganlab.cli import main
from ganlab.plugins import Plugins, load_plugins

TINY_RECIPE: dict[str, Any] = {
    "experiment": {"name": "tiny", "seed": 0, "device": "cpu"},
    "data": {"name": "synthetic-faces", "image_size": 16, "num_images": 64, "seed": 0},
    "generator": {"name": "dcgan", "latent_dim": 8, "features": 4},
    "discriminator": {"name": "dcgan", "features": 4},
    "loss": {"name": "bce", "real_label": 0.9},
    "optimizer": {"generator": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
                  "discriminator": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}},
    "init": {"name": "dcgan-normal"},
    "train": {"epochs": 2, "batch_size": 16, "num_workers": 0, "log_every": 2, "grid_size": 16},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """``write_recipe(changes={...}, name="r.toml")`` writes the tiny recipe, deep-merged with changes."""
    def write(changes: dict[str, Any] | None = None, name: str = "recipe.toml") -> Path:
        path = tmp_path / name
        path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, changes or {})), "utf-8")
        return path
    return write


@pytest.fixture
def plugins() -> Plugins:
    """Built-in plugins only: installed third-party plugins cannot change what core tests see."""
    return load_plugins(entry_points=False)


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return invoke


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the user's caches or finds their Inception weights: ganlab's cache and
    the torch hub point into a fresh temporary folder."""
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(root / "ganlab"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    return root
