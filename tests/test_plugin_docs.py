"""The plugin guide of the documentation (docs/plugins/) is complete and true: every plugin hook and
evaluator event is documented with its signature and has a test, and the guide's examples work as printed."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

import ganlab
from conftest import RUN_VIEW
from ganlab import Evaluator
from ganlab.contracts.kinds import interface
from ganlab.registry import hookspecs

ROOT = Path(__file__).parents[1]
PLUGIN_DOCS = ROOT / "docs" / "plugins"
GUIDE = "\n".join(path.read_text("utf-8") for path in sorted(PLUGIN_DOCS.glob("*.md")))

HOOKS = [f for name, f in vars(hookspecs).items() if name.startswith("ganlab_") and callable(f)]
EVENTS = [f for name, f in vars(Evaluator).items() if not name.startswith("_") and callable(f)]


def signature(function) -> str:
    params = [p for p in inspect.signature(function).parameters if p != "self"]
    return f"{function.__name__}({', '.join(params)})"


def names_of_tests(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("test_*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


@pytest.mark.parametrize("method", HOOKS + EVENTS, ids=lambda f: f.__name__)
def test_every_hook_and_event_is_documented_with_its_signature(method):
    assert f"`{signature(method)}`" in GUIDE


@pytest.mark.parametrize("method", HOOKS + EVENTS, ids=lambda f: f.__name__)
def test_every_hook_and_event_has_a_test(method):
    prefix = "test_hook_" if method in HOOKS else "test_evaluator_"
    assert any(name.startswith(f"{prefix}{method.__name__}") for name in names_of_tests(ROOT / "tests"))


EVALUATORS = (PLUGIN_DOCS / "evaluators.md").read_text("utf-8")
RUN_TABLE = EVALUATORS[
    EVALUATORS.index("What an evaluator may use of `run`") : EVALUATORS.index("An evaluator keeps everything")
]


@pytest.mark.parametrize("attribute", RUN_VIEW)
def test_every_run_attribute_an_evaluator_may_use_is_documented(attribute):
    assert f"`run.{attribute}" in RUN_TABLE


def test_the_guide_documents_only_run_attributes_an_evaluator_may_use():
    documented = set(re.findall(r"`run\.(\w+)", RUN_TABLE))
    assert documented <= set(RUN_VIEW), "a documented attribute is missing from ganlab.RunView"


def docs_block(after: str, language: str, page: str = "guide.md") -> str:
    """The first ``language`` code block that follows the text ``after`` on a page of the plugin guide."""
    text = (PLUGIN_DOCS / page).read_text("utf-8")
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, text.index(after))
    return match.group(1)


def test_the_example_plugin_trains_logs_and_reports(register_plugin, write_recipe, train_recipe, monkeypatch):
    plugin = types.ModuleType("ganlab_smooth")
    monkeypatch.setitem(sys.modules, "ganlab_smooth", plugin)  # dataclasses look their module up
    exec(compile(docs_block("`ganlab_smooth.py`", "python"), "docs/plugins/guide.md", "exec"), plugin.__dict__)
    register_plugin(plugin, name="smooth")
    run = train_recipe(write_recipe({"loss": {"name": "bce-two-sided"}, "evaluators": [{"name": "d-accuracy"}]}))
    assert run.read_meta()["status"] == "finished"
    assert [e["metric"] for e in run.read_evaluations()] == ["d_accuracy", "d_accuracy"]
    assert [r["step"] for r in run.read_jsonl("evaluators/d-accuracy/accuracy.jsonl")] == [4, 8], (
        "the guide's evaluator follows its own rule: records carry their step, so a resume can cut them back"
    )
    [section] = plugin.DiscriminatorAccuracy(plugin.AccuracyConfig(), None).report_sections(run)
    assert section.title == "Discriminator accuracy" and section.html.count("<tr><td>") == 2


def test_the_example_command_ranks_a_trained_runs_epochs(
    register_plugin, write_recipe, train_recipe, run_cli, monkeypatch
):
    plugin = types.ModuleType("ganlab_smooth")
    monkeypatch.setitem(sys.modules, "ganlab_smooth", plugin)
    for block in (docs_block("`ganlab_smooth.py`", "python"), docs_block("## Adding a command", "python")):
        exec(compile(block, "docs/plugins/guide.md", "exec"), plugin.__dict__)
    register_plugin(plugin, name="smooth")
    run = train_recipe(write_recipe({"evaluators": [{"name": "d-accuracy"}]}))
    top = max(run.read_evaluations(), key=lambda e: e["value"])
    result = run_cli("best", run.path)
    assert result.stdout == f"epoch {top['epoch']} (step {top['step']}): d_accuracy = {top['value']:.3f}\n"
    unscored = run_cli("best", run.path, "--metric", "fid")
    assert unscored.exit_code == 1
    assert unscored.stderr == f"ganlab: error: {run.path} has no 'fid' evaluations; run `ganlab evaluate` first\n"


def test_the_example_pyproject_declares_the_entry_point_group_ganlab():
    import tomllib

    from ganlab.loading.manager import ENTRY_POINT_GROUP

    pyproject = tomllib.loads(docs_block("`pyproject.toml`", "toml"))
    assert pyproject["project"]["entry-points"][ENTRY_POINT_GROUP] == {"smooth": "ganlab_smooth"}


LEVER_AND_LOGGER_BASES = (ganlab.Augment, ganlab.Regularizer, ganlab.Schedule, ganlab.Logger)


@pytest.mark.parametrize(
    "method",
    [(base.__name__, name) for base in LEVER_AND_LOGGER_BASES for name in interface(base)],
    ids=lambda m: ".".join(m),
)
def test_every_method_the_engine_calls_on_a_lever_or_logger_is_documented(method):
    base, name = method
    section = (PLUGIN_DOCS / "levers.md").read_text("utf-8")
    assert f"**{base}**" in section and f"{name}(" in section


def test_the_example_data_set_trains_a_conditional_run(register_plugin, write_recipe, train_recipe, monkeypatch):
    plugin = types.ModuleType("ganlab_noise")
    monkeypatch.setitem(sys.modules, "ganlab_noise", plugin)
    source = docs_block("## The data-set contract", "python", page="data-sets.md")
    exec(compile(source, "docs/plugins/data-sets.md", "exec"), plugin.__dict__)
    register_plugin(plugin, name="noise")
    run = train_recipe(
        write_recipe(
            {
                "data": {"name": "noise", "image_size": 16, "num_images": 64},
                "generator": {"name": "cdcgan"},
                "discriminator": {"name": "cdcgan-projection"},
            }
        )
    )
    assert run.read_meta()["status"] == "finished"
    assert ganlab.LabelSpace.from_dict(run.read_meta()["label_space"]).names == ("bright",)
