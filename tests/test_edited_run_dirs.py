"""Run directories edited by hand or written by an older version, and plugins whose report sections are
broken: `report`, `compare` and a resume still work, skip what they cannot read with one warning naming the
file and its lines, and never show a traceback."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from html_page import parse

from conftest import TINY_RECIPE, merge
from ganlab import Evaluator, ReportSection, hookimpl
from ganlab.common import tomlwrite
from ganlab.page.figures import plot, png_bytes
from ganlab.rundir.rundir import RunDir

ALL_EVALUATORS = [
    {"name": "loss-curves"},
    {"name": "d-distributions", "num_images": 8},
    {"name": "samples"},
    {"name": "training-health", "num_images": 8},
]
RUN_ERROR = 5


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A finished tiny run with every built-in evaluator and one evaluation metric, trained once for the module."""
    from click.testing import CliRunner

    from ganlab.cli import main as cli

    folder = tmp_path_factory.mktemp("pristine")
    recipe = folder / "recipe.toml"
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": ALL_EVALUATORS})), "utf-8")
    result = CliRunner().invoke(cli.main, ["run", str(recipe), "--out", str(folder / "runs"), "--no-progress"])
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    with open(run / "evaluations.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"metric": "fid", "value": 90.0, "step": 8, "epoch": 2, "num_fake": 16}) + "\n")
    return run


@pytest.fixture
def copy_of(pristine, tmp_path) -> Callable[[str], Path]:
    def copy(name: str = "edited") -> Path:
        return Path(shutil.copytree(pristine, tmp_path / name))

    return copy


def append_lines(path: Path, *lines: str) -> int:
    """Append ``lines``; return the line number of the first."""
    first = len(path.read_text("utf-8").splitlines()) + 1
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return first


def assert_clean(result, exit_code: int = 0) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit) or result.exception is None


def warnings_about(output: str, filename: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ganlab: warning:") and filename in line]


# -- JSON-lines logs -------------------------------------------------------------------------------------

BAD_RECORDS = {
    "metrics: a list": ("metrics.jsonl", "[1, 2]", "is a list ([1, 2]), not a JSON object"),
    "metrics: a step in words": (
        "metrics.jsonl",
        '{"step": "ten", "epoch": 1, "loss_d": 0.5}',
        "has 'step' as a string ('ten'), not an integer",
    ),
    "metrics: a loss in words": (
        "metrics.jsonl",
        '{"step": 9, "epoch": 2, "loss_g": "high"}',
        "has 'loss_g' as a string ('high'), not a number or null",
    ),
    "metrics: not JSON": ("metrics.jsonl", "step 9: loss 0.5", "is not JSON"),
    "evaluations: a string": ("evaluations.jsonl", '"fid 12"', "is a string ('fid 12'), not a JSON object"),
    "evaluations: no value": ("evaluations.jsonl", '{"metric": "fid", "step": 8}', "has no 'value'"),
    "evaluations: a metric named by a number": (
        "evaluations.jsonl",
        '{"metric": 7, "value": 1.0}',
        "has 'metric' as an integer (7), not a string",
    ),
    "d-distributions: a number": (
        "evaluators/d-distributions/scores.jsonl",
        "5",
        "is an integer (5), not a JSON object",
    ),
    "d-distributions: scores in words": (
        "evaluators/d-distributions/scores.jsonl",
        '{"label": "x", "step": 9, "epoch": 2, "real": "high", "fake": [0.1]}',
        "has 'real' as a string ('high'), not a list of numbers",
    ),
    "training-health: a ratio in words": (
        "evaluators/training-health/diversity.jsonl",
        '{"epoch": 3, "step": 9, "ratio": "low"}',
        "has 'ratio' as a string ('low'), not a number",
    ),
}


@pytest.mark.parametrize("filename, line, reason", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_report_skips_a_record_of_the_wrong_shape_with_a_warning_naming_file_and_line(
    filename, line, reason, copy_of, run_cli, tmp_path
):
    run = copy_of()
    number = append_lines(run / filename, line, "{}" if filename == "metrics.jsonl" else line)
    out = tmp_path / "report.html"
    result = run_cli("report", run, "-o", out)
    assert_clean(result)
    [warning] = warnings_about(result.output, filename)
    assert f"{run / filename}: skipped lines {number}-{number + 1}" in warning
    assert f"line {number} {reason}" in warning
    page = parse(out.read_text("utf-8"))
    assert {"Summary", "Skipped records", "Loss curves", "Training health", "Environment"} <= set(page.titles)


def test_many_bad_lines_are_one_warning_explaining_the_first_few(copy_of, run_cli, tmp_path):
    run = copy_of()
    first = append_lines(run / "metrics.jsonl", *["[]"] * 12)
    result = run_cli("report", run, "-o", tmp_path / "report.html")
    assert_clean(result)
    [warning] = warnings_about(result.output, "metrics.jsonl")
    assert f"skipped lines {first}-{first + 11}" in warning and warning.endswith("; and 7 more")


def test_a_record_of_the_wrong_shape_costs_only_itself(copy_of):
    run = RunDir.open(copy_of())
    before = run.read_metrics()
    append_lines(run.path / "metrics.jsonl", "[1]", json.dumps({**before[-1], "step": 9}))
    assert run.read_metrics() == before + [{**before[-1], "step": 9}]


def test_compare_skips_records_of_the_wrong_shape_with_a_warning(copy_of, run_cli, tmp_path):
    edited, other = copy_of("edited"), copy_of("other")
    append_lines(edited / "metrics.jsonl", '"loss"')
    append_lines(edited / "evaluations.jsonl", '{"metric": "fid", "value": "n/a"}')
    append_lines(edited / "evaluators/d-distributions/scores.jsonl", "[0.5]")
    result = run_cli("compare", edited, other, "-o", tmp_path / "compare.html")
    assert_clean(result)
    for filename in ("metrics.jsonl", "evaluations.jsonl", "scores.jsonl"):
        assert len(warnings_about(result.output, filename)) == 1, result.output
    assert "D(x) and D(G(z))" in parse((tmp_path / "compare.html").read_text("utf-8")).titles


def test_compare_tolerates_training_health_flags_that_are_not_objects(copy_of, run_cli, tmp_path):
    edited = copy_of("edited")
    (edited / "evaluators/training-health/flags.json").write_text('["collapse", {"check": "collapse", "step": 4}]')
    result = run_cli("compare", edited, copy_of("other"), "-o", tmp_path / "compare.html")
    assert_clean(result)
    assert "collapse from step 4" in result.output


# -- meta.json -------------------------------------------------------------------------------------------

WRONG_META = {
    "seed": [1],
    "steps": "many",
    "elapsed_s": "long",
    "versions": "none",
    "overrides": 3,
    "status": 1,
    "ended": 5,
    "resumed": "twice",
}


def edit_meta(run: Path, **changes) -> None:
    meta = json.loads((run / "meta.json").read_text("utf-8"))
    (run / "meta.json").write_text(json.dumps({**meta, **changes}), "utf-8")


def test_meta_fields_of_the_wrong_type_are_treated_as_missing_with_one_warning(copy_of, run_cli, tmp_path):
    run = copy_of()
    edit_meta(run, **WRONG_META)
    for command in (
        ["report", run, "-o", tmp_path / "report.html"],
        ["compare", run, copy_of("other"), "-o", tmp_path / "compare.html"],
    ):
        result = run_cli(*command)
        assert_clean(result)
        [warning] = warnings_about(result.output, "meta.json")
        assert "meta.json: treated as missing: " in warning
        assert all(f"{field!r} is" in warning for field in WRONG_META)


def test_a_meta_field_of_the_wrong_type_is_kept_in_the_file(copy_of, run_cli, tmp_path):
    run = copy_of()
    edit_meta(run, seed="zero")
    run_cli("report", run)
    assert json.loads((run / "meta.json").read_text("utf-8"))["seed"] == "zero"


def test_a_meta_file_that_is_not_an_object_is_a_clean_error(copy_of, run_cli):
    run = copy_of()
    (run / "meta.json").write_text("[1, 2]", "utf-8")
    result = run_cli("report", run)
    assert_clean(result, RUN_ERROR)
    assert "meta.json is unreadable: it holds a list ([1, 2]), not a JSON object" in result.output


def test_a_resume_reads_past_a_hand_edited_meta_and_log(copy_of, run_cli):
    run = copy_of()
    edit_meta(run, resumed="never", overrides="none")
    append_lines(run / "metrics.jsonl", "[]")
    result = run_cli("run", "--resume", run, "--set", "train.epochs=3", "--no-progress")
    assert_clean(result)
    meta = RunDir.open(run).read_meta()
    assert meta["status"] == "finished" and meta["overrides"] == ["train.epochs=3"]
    assert len(meta["resumed"]) == 1


# -- figures ---------------------------------------------------------------------------------------------

NAMES = ["$x^2$", "$\\frac$ back\\slash", "under_score 100% {braces}", "odd $ dollar"]


def test_compare_and_report_show_run_and_metric_names_literally(copy_of, run_cli, tmp_path):
    runs = [copy_of(name) for name in NAMES]
    for run, name in zip(runs, NAMES):
        append_lines(run / "evaluations.jsonl", json.dumps({"metric": name, "value": 1.0, "step": 8, "epoch": 2}))
    result = run_cli("compare", *runs, "-o", tmp_path / "compare.html")
    assert_clean(result)
    assert all(name in result.output for name in NAMES)
    result = run_cli("report", runs[1], "-o", tmp_path / "report.html")
    assert_clean(result)


def test_figure_titles_labels_and_legends_are_not_read_as_mathematics():
    with plot() as (fig, ax):
        ax.plot([1, 2], [1, 2], label="$x^2$ run")
        ax.set_title("$\\frac$")
        ax.set_xlabel("50% of {steps}")
        legend = ax.legend()
        png_bytes(fig)
        user_texts = [ax.title, ax.xaxis.label, *legend.get_texts()]
        assert all(not text.get_parse_math() and not text.get_usetex() for text in user_texts)
        assert all(tick.label1.get_parse_math() for tick in ax.xaxis.get_major_ticks())


# -- plugins' report sections ----------------------------------------------------------------------------


@dataclasses.dataclass
class BrokenConfig:
    mode: str = "raises"


class Broken(Evaluator):
    """A plugin's evaluator whose report_sections goes wrong in the way ``mode`` names."""

    def __init__(self, mode: str):
        self.mode = mode

    def report_sections(self, run_dir):
        good = ReportSection("Plugin good", "<p>fine</p>", order=70)
        if self.mode == "raises":
            raise RuntimeError("<lost> file")
        if self.mode == "not a list":
            return good
        if self.mode == "not a section":
            return [good, {"title": "dict"}]
        if self.mode == "malformed summary":
            return [good, ReportSection("Plugin bad", "<p>x</p>", summary=("just text",))]
        if self.mode == "summary changed after":
            section = ReportSection("Plugin bad", "<p>x</p>")
            object.__setattr__(section, "summary", [("label", 5)])
            return [good, section]
        if self.mode == "html not text":
            section = ReportSection("Plugin bad", "<p>x</p>")
            object.__setattr__(section, "html", b"<p>bytes</p>")
            return [good, section]
        return [good]


class BrokenPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "broken", lambda config, context: Broken(config.mode), BrokenConfig)


SECTION_FAULTS = {
    "raises": "its report section failed: RuntimeError: &lt;lost&gt; file",
    "not a list": "report_sections returned a ReportSection",
    "not a section": "a report section it returned is left out: an object ({&#x27;title&#x27;: &#x27;dict&#x27;}) "
    "is not a ganlab.ReportSection",
    "malformed summary": "ReportSection: &#x27;Plugin bad&#x27;: its summary is a tuple",
    "summary changed after": "left out: &#x27;Plugin bad&#x27;: its summary is a list",
    "html not text": "left out: &#x27;Plugin bad&#x27;: its html is a bytes",
}


def test_a_broken_plugin_section_costs_only_that_evaluators_sections(register_plugin, write_recipe, run_cli, tmp_path):
    register_plugin(BrokenPlugin(), "broken-plugin")
    evaluators = [{"name": "broken", "mode": mode} for mode in SECTION_FAULTS] + [{"name": "loss-curves"}]
    result = run_cli(
        "run",
        write_recipe({"train": {"epochs": 1}, "evaluators": evaluators}),
        "--out",
        tmp_path / "runs",
        "--no-progress",
    )
    assert_clean(result)
    run = RunDir.open(result.stdout.strip().splitlines()[-1])
    written = run.report_path.read_text("utf-8")
    rebuilt = run_cli("report", run.path, "-o", tmp_path / "rebuilt.html")
    assert_clean(rebuilt)
    assert (tmp_path / "rebuilt.html").read_text("utf-8") == written
    for i, notice in enumerate(SECTION_FAULTS.values()):
        for output in (result.output, rebuilt.output):
            assert len(warnings_about(output, f"report: evaluators[{i}] (broken): ")) == 1, output
        assert f"evaluators[{i}] (broken): " in written and notice in written
    titles = parse(written).titles
    assert "Plugin bad" not in titles and "Loss curves" in titles and "Summary" in titles
    assert titles.count("Plugin good") == 3  # from the evaluators whose other section is the broken one
