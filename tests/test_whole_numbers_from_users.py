"""Every whole number a user types, or edits into a run's files, is read by one rule: digits 0-9, at most
18 of them. What ``str.isdigit`` takes for a digit ('²', '٣') and numbers longer than ``int`` converts
(5,000 digits) are refused naming the text, where it was and the form expected, with the command's exit
code; never a ValueError from ``int``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import ganlab
from ganlab.testing import TINY_RECIPE

QUICKSTART = Path(__file__).resolve().parent.parent / "experiments" / "quickstart.toml"
LONG = "9" * 5000
FORM = "a whole number (digits 0-9, at most 18 of them)"
HAIR = "black, brown, blond, red, grey"
CONDITIONAL = {
    **TINY_RECIPE,
    "data": {**TINY_RECIPE["data"], "attributes": ["glasses", "hair"]},
    "generator": {**TINY_RECIPE["generator"], "name": "cdcgan"},
    "discriminator": {**TINY_RECIPE["discriminator"], "name": "cdcgan-projection"},
    "train": {**TINY_RECIPE["train"], "epochs": 1},
}


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> ganlab.RunResult:
    return ganlab.run(CONDITIONAL, out=tmp_path_factory.mktemp("runs"), progress=False)


@pytest.mark.parametrize(
    "condition, said",
    [
        ("glasses=²", "glasses='²': glasses is one of 0, 1"),
        ("hair=٣", f"hair='٣': hair is one of {HAIR}, or its index 0 to 4"),
        (f"hair={LONG}", f"hair='{'9' * 70}'... (5000 characters): hair is one of {HAIR}, or its index 0 to 4"),
    ],
)
def test_a_condition_s_value_that_is_not_an_index_is_refused_naming_it(conditional, run_cli, tmp_path, condition, said):
    result = run_cli("generate", conditional.path, "-o", tmp_path / "x.png", "--condition", condition)
    assert result.exit_code == 2
    assert said in result.output and "Traceback" not in result.output and LONG not in result.output
    assert not (tmp_path / "x.png").exists()


def test_a_condition_s_index_picks_the_value_it_numbers(conditional, run_cli, tmp_path):
    for condition in ("hair=3", "hair=red"):
        result = run_cli(
            "generate", conditional.path, "-o", tmp_path / f"{condition}.png", "--num", 2, "--condition", condition
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "hair=3.png").read_bytes() == (tmp_path / "hair=red.png").read_bytes()


@pytest.mark.parametrize("checkpoint", ["²", "١", LONG])
def test_a_checkpoint_number_that_is_not_a_whole_number_is_refused_naming_the_form(
    conditional, run_cli, tmp_path, checkpoint
):
    result = run_cli("generate", conditional.path, "--checkpoint", checkpoint, "-o", tmp_path / "x.png")
    assert result.exit_code == 6
    assert f"name one by file name or by epoch number ({FORM}); available: epoch_0001.pt" in result.output
    assert "Traceback" not in result.output and LONG not in result.output


def test_a_checkpoint_is_found_by_its_epoch_number(conditional, run_cli, tmp_path):
    result = run_cli("generate", conditional.path, "--checkpoint", "1", "--num", 2, "-o", tmp_path / "x.png")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "override, said",
    [
        (f"data.num_images={LONG}", "--set data.num_images: the value's integer is longer than 4300 digits"),
        (
            "optimizer.generator.betas.².x=1",
            "optimizer.generator.betas is not a table; address its items by index, as in optimizer.generator.betas[0]",
        ),
        (
            f"optimizer.generator.betas.{LONG}=1",
            f"'{'9' * 70}'... (5000 characters) is too long for an array index ({FORM})",
        ),
    ],
)
def test_an_override_with_a_number_int_cannot_read_is_a_recipe_error(write_recipe, run_cli, override, said):
    result = run_cli("validate", write_recipe(), "--set", override)
    assert result.exit_code == 2
    assert said in result.output and "Traceback" not in result.output


def test_a_recipe_with_an_integer_of_5000_digits_is_refused_saying_so(tmp_path, run_cli):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[data]\nname = "synthetic-faces"\nnum_images = {LONG}\n', "utf-8")
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert f"{recipe}: invalid TOML: integer is longer than 4300 digits" in result.output


def test_a_rank_in_the_environment_that_is_not_a_whole_number_is_refused_naming_it(
    write_recipe, run_cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("RANK", "²")
    result = run_cli("run", write_recipe(), "--out", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 2
    assert (
        f"RANK: the environment variable is '²', not {FORM}; torchrun sets it (unset it to train in one process)"
    ) in result.output


def test_a_report_passes_over_an_swd_level_edited_into_evaluations_by_hand(write_recipe, train_recipe, run_cli):
    run = train_recipe(
        write_recipe({"train": {"epochs": 1}, "evaluators": [{"name": "swd", "every": 1, "num_samples": 64}]})
    )
    levels = {r["metric"] for r in run.read_evaluations()} - {"swd"}
    with open(run.path / "evaluations.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"metric": "swd_²px", "value": 1.0, "step": 4, "epoch": 1}) + "\n")
    result = run_cli("report", run.path)
    assert result.exit_code == 0, result.output
    page = run.report_path.read_text("utf-8")
    assert all(f"{level[4:-2]} px" in page for level in levels) and "² px" not in page


def test_a_resumed_csv_logger_keeps_a_row_whose_step_was_edited_by_hand_and_logs_on(
    write_recipe, train_recipe, run_cli
):
    stopped = train_recipe(write_recipe({"loggers": [{"name": "csv"}]}), "train.max_steps=3")
    steps = stopped.path / "csv" / "steps.csv"
    with steps.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    edited = [*rows[:-1], ["²" if name == "step" else value for name, value in zip(rows[0], rows[-1])]]
    with steps.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(edited)
    result = run_cli("run", "--resume", stopped.path, "--set", "train.max_steps=0", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "failed" not in result.stderr
    with steps.open(newline="", encoding="utf-8") as handle:
        resumed = list(csv.reader(handle))
    assert edited[-1] in resumed and resumed[-1][0] == str(stopped.read_meta()["total_steps"])


@pytest.mark.parametrize(
    "option, text", [("--num", "٣"), ("--num", "1_000"), ("--num", "+3"), ("--seed", LONG), ("--to-seed", "²")]
)
def test_a_commands_integer_option_is_read_by_the_same_rule(conditional, run_cli, tmp_path, option, text):
    result = run_cli("generate", conditional.path, "-o", tmp_path / "x.png", option, text)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output and f"is not {FORM}" in result.output
    assert LONG not in result.output and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "args", [("sweep", "--jobs", "٣"), ("score", "--num", "1_000"), ("evaluate", "--num-samples", "²")]
)
def test_every_command_reads_its_integer_options_by_that_rule(conditional, run_cli, args):
    command, option, text = args
    target = [QUICKSTART] if command == "sweep" else [conditional.path] * (2 if command == "score" else 1)
    result = run_cli(command, *target, option, text)
    assert result.exit_code == 2
    assert f"is not {FORM}" in result.output


def test_a_condition_that_gives_an_attribute_twice_is_refused(conditional, run_cli, tmp_path):
    result = run_cli("generate", conditional.path, "-o", tmp_path / "x.png", "--condition", "glasses=1,glasses=0")
    assert result.exit_code == 2
    assert "glasses is given twice; give each attribute once" in result.output
    assert not (tmp_path / "x.png").exists()
