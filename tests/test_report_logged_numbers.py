"""Every number metrics.jsonl holds beyond the step record's own (learning rates, an augmentation's p,
regularizer terms, a plugin's numbers) shows up in the report under its key, without the report knowing
what it is: a panel over steps when it changed, one line of text when it did not."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from html_page import parse

from conftest import TINY_RECIPE, merge
from ganlab.common import tomlwrite

STEPS = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run with the loss-curves evaluator, trained once for the module."""
    from click.testing import CliRunner

    from ganlab.cli import main as cli

    folder = tmp_path_factory.mktemp("trained")
    recipe = folder / "recipe.toml"
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": [{"name": "loss-curves"}]})), "utf-8")
    result = CliRunner().invoke(cli.main, ["run", str(recipe), "--out", str(folder / "runs"), "--no-progress"])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def run_with(trained, tmp_path) -> Callable[..., Path]:
    """A copy of the trained run whose metrics.jsonl is rewritten by hand: the step record's own numbers
    plus ``extras(step)`` at every step."""

    def make(extras: Callable[[int], dict[str, Any]]) -> Path:
        run = Path(shutil.copytree(trained, tmp_path / "run"))
        lines = [
            json.dumps(
                {
                    "step": step,
                    "epoch": 1 + step // 12,
                    "loss_d": 1.2 - step / 40,
                    "loss_g": 0.7 + step / 50,
                    "d_real": 0.6,
                    "d_fake": 0.4,
                    **extras(step),
                    "time": step / 10,
                }
            )
            for step in range(1, STEPS + 1)
        ]
        (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines), "utf-8")
        return run

    return make


def report(run_cli, run: Path, out: Path) -> tuple[str, Any]:
    result = run_cli("report", run, "-o", out)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output, parse(out.read_text("utf-8"))


def section(page: str, title: str) -> str:
    """The HTML of the report section titled ``title``."""
    match = re.search(rf"<h2[^>]*>{re.escape(title)}</h2>(.*?)(?=<h2|\Z)", page, re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def panel_keys(html: str) -> list[str]:
    """The keys the section's figure has panels for, as its image's description lists them."""
    [alt] = re.findall(r'<img[^>]*alt="per step: ([^"]*)"', html)
    return alt.split(", ")


def test_each_number_that_changes_gets_a_panel_titled_by_its_key(run_with, run_cli, tmp_path):
    run = run_with(
        lambda step: {
            "lr_g": 2e-4 * (1 - step / STEPS),
            "augment_p": step / 100,
            "reg_r1": 0.05 + 0.01 * (step % 3),
            "plugin_$temp^": 1.0 + step,
        }
    )
    _, page = report(run_cli, run, tmp_path / "report.html")
    assert page.titles.index("Logged numbers") == page.titles.index("Loss curves") + 1
    html = section((tmp_path / "report.html").read_text("utf-8"), "Logged numbers")
    assert panel_keys(html) == ["lr_g", "augment_p", "reg_r1", "plugin_$temp^"]
    assert "One panel per number: lr_g, augment_p, reg_r1, plugin_$temp^." in html


def test_a_number_that_never_changes_is_one_line_of_text_not_a_panel(run_with, run_cli, tmp_path):
    run = run_with(lambda step: {"lr_g": 2e-4, "lr_d": 0.0004, "augment_p": step / 100})
    report(run_cli, run, tmp_path / "report.html")
    html = section((tmp_path / "report.html").read_text("utf-8"), "Logged numbers")
    assert panel_keys(html) == ["augment_p"]
    assert "<tr><th>lr_g</th><td>0.0002 at every step</td></tr>" in html
    assert "<tr><th>lr_d</th><td>0.0004 at every step</td></tr>" in html


def test_a_number_that_was_never_finite_is_said_to_be(run_with, run_cli, tmp_path):
    run = run_with(lambda step: {"reg_r2": None, "augment_p": step / 100})
    report(run_cli, run, tmp_path / "report.html")
    html = section((tmp_path / "report.html").read_text("utf-8"), "Logged numbers")
    assert "<tr><th>reg_r2</th><td>never a finite number</td></tr>" in html


def test_a_log_with_only_the_step_records_own_numbers_has_no_such_section(run_with, run_cli, tmp_path):
    _, page = report(run_cli, run_with(lambda step: {}), tmp_path / "report.html")
    assert "Loss curves" in page.titles
    assert "Logged numbers" not in page.titles


def test_a_number_in_words_costs_its_line_with_a_warning_and_the_rest_is_drawn(run_with, run_cli, tmp_path):
    run = run_with(lambda step: {"augment_p": "high" if step == 5 else step / 100, "lr_g": 2e-4})
    output, page = report(run_cli, run, tmp_path / "report.html")
    [warning] = [line for line in output.splitlines() if "metrics.jsonl" in line]
    assert "skipped line 5" in warning
    assert "has 'augment_p' as a string ('high'), not a number or null" in warning
    assert {"Skipped records", "Loss curves", "Logged numbers"} <= set(page.titles)
    assert panel_keys(section((tmp_path / "report.html").read_text("utf-8"), "Logged numbers")) == ["augment_p"]


def test_a_real_run_states_its_unscheduled_learning_rates(trained, run_cli, tmp_path):
    report(run_cli, trained, tmp_path / "report.html")
    html = section((tmp_path / "report.html").read_text("utf-8"), "Logged numbers")
    assert "<tr><th>lr_g</th>" in html and "<tr><th>lr_d</th>" in html
