"""The levers' recipe sections: checked like every other section, written back in the resolved recipe,
appended to from the command line with ``--set ARRAY[+]={...}``, and fixed for the life of a run."""

from __future__ import annotations

import pytest
from lever_plugins import LeverPlugin

from ganlab.common.errors import RecipeError
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import dotted_settings, load_recipe
from ganlab.training.resume import refuse_unsafe_changes


@pytest.fixture
def levers():
    return load_plugins([("levers", LeverPlugin())], entry_points=False)


def problems_of(path, plugins, overrides=()):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, plugins.registry, list(overrides))
    return info.value.problems


LEVERS = {
    "augment": {"name": "noise", "std": 0.1},
    "regularizers": [{"name": "grad-real", "gamma": 10.0, "interval": 16}],
    "schedule": {"generator": {"name": "cosine", "min_factor": 0.1}},
    "loggers": [{"name": "csv"}],
}


def test_the_levers_resolve_with_their_configs(write_recipe, levers):
    recipe = load_recipe(write_recipe(LEVERS), levers.registry)
    assert recipe.augment.name == "noise" and recipe.augment.config.std == 0.1
    assert [(r.section, r.name, r.config.interval) for r in recipe.regularizers] == [
        ("regularizers[0]", "grad-real", 16)
    ]
    assert recipe.component("schedule.generator").config.min_factor == 0.1
    assert recipe.component("schedule.discriminator").name == "constant"
    assert [logger.name for logger in recipe.loggers] == ["csv"]


def test_a_recipe_without_levers_has_none_and_constant_rates(write_recipe, plugins):
    recipe = load_recipe(write_recipe(), plugins.registry)
    assert (recipe.augment, recipe.regularizers, recipe.loggers) == (None, (), ())
    assert {recipe.component(f"schedule.{r}").name for r in ("generator", "discriminator")} == {"constant"}


def test_the_resolved_recipe_holds_every_lever_and_reads_back_the_same(write_recipe, levers, tmp_path):
    recipe = load_recipe(write_recipe(LEVERS), levers.registry)
    again = tmp_path / "again.toml"
    again.write_text(recipe.to_toml(), "utf-8")
    assert load_recipe(again, levers.registry).to_dict() == recipe.to_dict()
    settings = dict(dotted_settings(recipe.to_dict()))
    assert settings["augment.std"] == 0.1 and settings["regularizers[0].gamma"] == 10.0
    assert settings["schedule.discriminator.name"] == "constant" and settings["loggers[0].folder"] == "csv"


def test_every_problem_of_the_lever_sections_is_reported_at_once(write_recipe, levers):
    problems = problems_of(
        write_recipe(
            {
                "augment": {"name": "nois"},
                "regularizers": [{"name": "grad-real", "gama": 1.0}, {"gamma": 1.0}],
                "schedule": {"generator": {"name": "cosine", "min_factor": "low"}, "critic": {"name": "step"}},
                "loggers": {"name": "csv"},
            }
        ),
        levers,
    )
    assert "augment.name: unknown augment 'nois' (did you mean 'noise'?)" in problems
    assert any(p.startswith("regularizers[0].gama: unknown key") and "gamma" in p for p in problems)
    assert any(p.startswith("regularizers[1].name: required; one of: ") for p in problems)
    assert any(p.startswith("schedule.generator.min_factor: expected float") for p in problems)
    assert (
        "schedule.critic: unknown section; schedules are set per network: [schedule.generator] and "
        "[schedule.discriminator]" in problems
    )
    assert "loggers: expected an array of tables ([[loggers]] sections)" in problems
    assert len(problems) == 6


def test_an_unknown_schedule_names_the_known_ones(write_recipe, plugins):
    [problem] = problems_of(write_recipe({"schedule": {"discriminator": {"name": "cosin"}}}), plugins)
    assert problem == "schedule.discriminator.name: unknown schedule 'cosin' (did you mean 'cosine'?)"


def test_set_appends_a_table_to_an_array_of_tables(write_recipe, levers):
    recipe = load_recipe(
        write_recipe(LEVERS),
        levers.registry,
        [
            'regularizers[+]={name="constant", value=2.0}',
            'loggers[+]={name="csv", folder="more"}',
            "regularizers[1].interval=4",
        ],
    )
    assert [(r.name, r.config.interval) for r in recipe.regularizers] == [("grad-real", 16), ("constant", 4)]
    assert [logger.config.folder for logger in recipe.loggers] == ["csv", "more"]


def test_set_appends_to_an_array_the_recipe_does_not_have_yet(write_recipe, plugins):
    recipe = load_recipe(write_recipe(), plugins.registry, ['evaluators[+]={name="loss-curves", smoothing=5}'])
    assert [(h.section, h.name, h.config.smoothing) for h in recipe.evaluators] == [("evaluators[0]", "loss-curves", 5)]


@pytest.mark.parametrize(
    "override, problem",
    [
        (
            "regularizers[+]=3",
            "--set 'regularizers[+]=3': [+] appends a table, written as a TOML inline table, as "
            'in regularizers[+]={name="..."}',
        ),
        (
            "regularizers[+].gamma=3",
            "--set 'regularizers[+].gamma=3': [+] appends a whole table and must end the "
            'key, as in regularizers[+]={name="..."}',
        ),
        ('train[+]={name="x"}', "--set 'train[+]={name=\"x\"}': train is not an array of tables"),
        ("regularizers[5].gamma=3", "--set 'regularizers[5].gamma=3': there is no regularizers[5] in the recipe"),
    ],
)
def test_malformed_appends_are_refused_saying_how_to_write_them(write_recipe, levers, override, problem):
    assert problem in problems_of(write_recipe(), levers, [override])


def test_a_resume_refuses_a_changed_lever(write_recipe, levers):
    before = load_recipe(write_recipe(LEVERS), levers.registry).to_dict()
    after = load_recipe(
        write_recipe(LEVERS), levers.registry, ["augment.std=0.2", 'schedule.discriminator.name="step"']
    ).to_dict()
    with pytest.raises(RecipeError) as info:
        refuse_unsafe_changes(before, after, "run/recipe.toml")
    problems = info.value.problems
    assert "augment.std: was 0.1 when the checkpoint was written, now 0.2" in problems
    assert "schedule.discriminator.name: was 'constant' when the checkpoint was written, now 'step'" in problems


def test_a_recorded_recipe_from_before_the_levers_reads_as_unchanged(write_recipe, plugins):
    recipe = load_recipe(write_recipe(), plugins.registry)
    old = {key: value for key, value in recipe.to_dict().items() if key != "schedule"}
    refuse_unsafe_changes(load_recipe(write_recipe(old), plugins.registry).to_dict(), recipe.to_dict(), "r.toml")
