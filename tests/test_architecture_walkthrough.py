"""The Architecture page of the documentation is true: its "Adding a loss in one file" walkthrough is one file that
uses only ganlab's public API, and with it installed a recipe trains with the new loss."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest

import ganlab

ARCHITECTURE = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text("utf-8")
SECTION = ARCHITECTURE[ARCHITECTURE.index("## Adding a loss in one file") :]
WALKTHROUGH = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)


@pytest.fixture
def rpgan(monkeypatch, register_plugin) -> types.ModuleType:
    """The walkthrough's file, installed as the plugin ``rpgan`` for this test."""
    module = types.ModuleType("ganlab_rpgan")
    monkeypatch.setitem(sys.modules, "ganlab_rpgan", module)  # dataclasses look their module up
    exec(compile(WALKTHROUGH, "docs/architecture.md", "exec"), module.__dict__)
    register_plugin(module, name="rpgan")
    return module


def test_the_walkthrough_imports_only_the_public_api():
    imported = [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(WALKTHROUGH))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    from_ganlab = [(module, name) for module, name in imported if module.split(".")[0] == "ganlab"]
    assert from_ganlab and all(module == "ganlab" and name in ganlab.__all__ for module, name in from_ganlab)


def test_the_walkthrough_loss_is_listed_with_its_setting(rpgan, run_cli):
    listed = run_cli("list", "loss").stdout
    assert "rpgan  [rpgan]" in listed and "margin: float = 0.0" in listed


def test_a_recipe_trains_with_the_walkthrough_loss_which_sees_real_scores(
    rpgan, write_recipe, train_recipe, monkeypatch
):
    seen = []
    generator_loss = rpgan.RelativisticPairing.generator_loss
    monkeypatch.setattr(
        rpgan.RelativisticPairing,
        "generator_loss",
        lambda self, fake, real=None: seen.append(real is not None) or generator_loss(self, fake, real),
    )
    run = train_recipe(write_recipe({"loss": {"name": "rpgan", "margin": 0.5}}))
    assert run.read_meta()["status"] == "finished"
    assert seen == [True] * 8  # 2 epochs of 4 steps, every generator loss given D(real)
    assert run.read_meta()["scores"]["name"] == "score"  # raw scores, the default kind
