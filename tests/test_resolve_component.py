"""One resolver turns a component table into a component for every command, so a wrong name or key reads
the same whether ``validate``, ``evaluate`` or ``report`` finds it."""

from __future__ import annotations

import pytest

from ganlab.common.errors import RecipeError
from ganlab.common.tomlwrite import dumps
from ganlab.recipes.recipe import read_toml, resolve_component


def problems_of(table, kind, registry) -> list[str]:
    with pytest.raises(RecipeError) as raised:
        resolve_component(table, kind, "loss", registry, "recipe.toml")
    return raised.value.problems


def test_a_table_becomes_its_entry_with_a_checked_config(plugins):
    component = resolve_component({"name": "bce", "real_label": 0.9}, "loss", "loss", plugins.registry, "r.toml")
    assert (component.section, component.name, component.config.real_label) == ("loss", "bce", 0.9)


def test_an_unknown_name_comes_with_its_close_matches(plugins):
    assert problems_of({"name": "bec"}, "loss", plugins.registry) == [
        "loss.name: unknown loss 'bec' (did you mean 'bce'?)"
    ]


def test_a_name_from_a_plugin_package_says_what_to_install(plugins):
    assert problems_of({"name": "hinge"}, "loss", plugins.registry) == [
        "loss.name: unknown loss 'hinge'; it is provided by the plugin package 'ganlab-sngan': pip install ganlab-sngan"
    ]


def test_every_bad_key_is_named_at_once(plugins):
    assert problems_of({"name": "bce", "real_lable": 0.9, "smooth": 1}, "loss", plugins.registry) == [
        "loss.real_lable: unknown key (did you mean 'real_label'?)",
        "loss.smooth: unknown key; known keys: real_label",
    ]


def with_evaluator(run, table) -> None:
    """The run's recorded recipe, its evaluators replaced by ``table``: as if edited, or trained elsewhere."""
    document = read_toml(run.recipe_path)
    document["evaluators"] = [table]
    run.recipe_path.write_text(dumps(document), "utf-8")


UNKNOWN_NAME = "unknown evaluator 'loss-curve' (did you mean 'loss-curves'?)"
BAD_KEY = "evaluators[0].smoothin: unknown key (did you mean 'smoothing'?)"


def test_validate_evaluate_and_report_word_an_unknown_name_alike(write_recipe, train_recipe, run_cli):
    run = train_recipe(write_recipe({"evaluators": [{"name": "loss-curves"}]}))
    validated = run_cli("validate", write_recipe({"evaluators": [{"name": "loss-curve"}]}, name="typo.toml"))
    evaluated = run_cli("evaluate", run.path, "--metric", "loss-curve")
    with_evaluator(run, {"name": "loss-curve"})
    reported = run_cli("report", run.path, "-o", run.path / "again.html")
    assert f"evaluators[0].name: {UNKNOWN_NAME}" in validated.stderr and validated.exit_code == 2
    assert f"--metric: {UNKNOWN_NAME}" in evaluated.stderr and evaluated.exit_code == 2
    assert f"evaluators[0].name: {UNKNOWN_NAME}; so its section is missing" in reported.stderr
    assert reported.exit_code == 0, "an evaluator missing here costs only its own section"


def test_validate_and_report_word_a_bad_key_alike(write_recipe, train_recipe, run_cli):
    run = train_recipe(write_recipe({"evaluators": [{"name": "loss-curves"}]}))
    validated = run_cli(
        "validate", write_recipe({"evaluators": [{"name": "loss-curves", "smoothin": 3}]}, name="k.toml")
    )
    with_evaluator(run, {"name": "loss-curves", "smoothin": 3})
    reported = run_cli("report", run.path, "-o", run.path / "again.html")
    assert BAD_KEY in validated.stderr and f"{BAD_KEY}; so its section is missing" in reported.stderr
