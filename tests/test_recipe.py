"""Recipes: TOML in, a validated Recipe out; every mistake reported with file, dotted key and hints."""

from __future__ import annotations

import tomllib

import pytest

from ganlab.common.errors import RecipeError
from ganlab.recipes.recipe import apply_overrides, load_recipe, parse_override


def problems_of(path, plugins, overrides=()):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, plugins.registry, list(overrides))
    return info.value.problems


def test_recipe_resolves_components_and_fills_defaults(write_recipe, plugins):
    recipe = load_recipe(write_recipe({"loss": {"real_label": 1.0}}), plugins.registry)
    assert recipe.component("generator").name == "dcgan"
    assert recipe.component("generator").config.latent_dim == 8
    assert recipe.component("optimizer.generator").config.betas == (0.5, 0.999)
    assert recipe.train.batch_size == 16 and recipe.train.d_steps == 1
    assert recipe.experiment.device == "cpu"


def test_missing_component_sections_take_the_classic_choice(tmp_path, plugins):
    path = tmp_path / "r.toml"
    path.write_text('[data]\nname = "synthetic-faces"\n')
    recipe = load_recipe(path, plugins.registry)
    assert [recipe.component(s).name for s in ("generator", "discriminator", "loss", "init")] == [
        "dcgan",
        "dcgan",
        "bce",
        "dcgan-normal",
    ]


def test_data_section_is_required(tmp_path, plugins):
    path = tmp_path / "r.toml"
    path.write_text("[train]\nepochs = 1\n")
    [problem] = problems_of(path, plugins)
    assert problem.startswith("data: section is missing; it must name a dataset (one of: ")
    assert "synthetic-faces" in problem


def test_unknown_component_name_suggests_close_matches(write_recipe, plugins):
    assert problems_of(write_recipe({"loss": {"name": "bcee"}}), plugins) == [
        "loss.name: unknown loss 'bcee' (did you mean 'bce'?)"
    ]


def test_unknown_keys_and_sections_are_errors(write_recipe, plugins):
    problems = problems_of(write_recipe({"generator": {"latent_dimm": 3}, "trian": {"epochs": 1}}), plugins)
    assert "trian: unknown section (did you mean 'train'?)" in problems
    assert "generator.latent_dimm: unknown key (did you mean 'latent_dim'?)" in problems


def test_every_problem_is_reported_together_with_the_file(write_recipe, plugins):
    path = write_recipe(
        {
            "train": {"epochs": 0, "batch_size": "many"},
            "init": {"name": "gaussian"},
            "optimizer": {"generator": {"lr": -1.0}},
        }
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path, plugins.registry)
    message = str(info.value)
    assert len(info.value.problems) == 4
    assert all(line.startswith(f"{path}: ") for line in message.splitlines())
    assert "train.epochs: must be at least 1, got 0" in message
    assert "train.batch_size: expected int, got a string ('many')" in message
    assert "optimizer.generator.lr: must be at least 0.0, got -1.0" in message
    assert "init.name: unknown init 'gaussian'" in message


def test_unknown_optimizer_role_is_explained(write_recipe, plugins):
    [problem] = problems_of(write_recipe({"optimizer": {"critic": {"name": "adam"}}}), plugins)
    assert problem.startswith("optimizer.critic: unknown section; optimizers are set per network")


def test_invalid_betas_are_rejected_by_the_optimizer_config(write_recipe, plugins):
    [problem] = problems_of(write_recipe({"optimizer": {"discriminator": {"betas": [1.5, 0.9]}}}), plugins)
    assert problem == "optimizer.discriminator: betas must each be in [0, 1), got [1.5, 0.9]"


@pytest.mark.parametrize(
    "content, expected",
    [
        ("[train\nepochs = 1", "invalid TOML"),
        (b"\xff\xfe\x00binary", "is not UTF-8 text"),
    ],
)
def test_unparseable_files_are_reported(tmp_path, plugins, content, expected):
    path = tmp_path / "bad.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    [problem] = problems_of(path, plugins)
    assert expected in problem


def test_missing_file_and_directory_are_reported(tmp_path, plugins):
    assert problems_of(tmp_path / "nope.toml", plugins) == ["no such file"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "meta.json").write_text("{}")
    [problem] = problems_of(tmp_path / "run", plugins)
    assert problem.startswith("is a directory, not a TOML recipe (it looks like a run directory")


def test_overrides_are_read_as_toml_values():
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("optimizer.generator.betas=[0.0, 0.9]") == (["optimizer", "generator", "betas"], [0.0, 0.9])
    assert parse_override('experiment.name="a b"') == (["experiment", "name"], "a b")


def test_override_that_is_not_toml_is_a_plain_string():
    assert parse_override("data.root=/data/celeba") == (["data", "root"], "/data/celeba")


def test_override_addresses_evaluators_by_index():
    doc, problems = apply_overrides({"evaluators": [{"name": "a"}, {"name": "b"}]}, ["evaluators[1].every=2"])
    assert problems == [] and doc["evaluators"][1] == {"name": "b", "every": 2}
    _, problems = apply_overrides({"evaluators": []}, ["evaluators.3.every=2"])
    assert problems == ["--set 'evaluators.3.every=2': there is no evaluators[3] in the recipe"]


def test_override_without_equals_sign_is_an_error(write_recipe, plugins):
    assert problems_of(write_recipe(), plugins, ["train.epochs"]) == [
        "--set 'train.epochs': expected KEY=VALUE, e.g. train.epochs=3"
    ]


def test_override_values_are_validated_like_file_values(write_recipe, plugins):
    assert problems_of(write_recipe(), plugins, ["train.batch_size=0"]) == [
        "train.batch_size: must be at least 1, got 0"
    ]


def test_override_does_not_change_the_parsed_document(write_recipe):
    document = tomllib.loads(write_recipe().read_text())
    apply_overrides(document, ["train.epochs=9"])
    assert document["train"]["epochs"] == 2


def test_resolved_recipe_is_itself_a_valid_recipe_with_the_same_meaning(write_recipe, plugins, tmp_path):
    recipe = load_recipe(write_recipe(), plugins.registry, ["loss.real_label=1.0", "train.epochs=1"])
    text = recipe.to_toml()
    assert "# overrides: loss.real_label=1.0 train.epochs=1" in text
    again_path = tmp_path / "resolved.toml"
    again_path.write_text(text)
    again = load_recipe(again_path, plugins.registry)
    assert again.to_dict() == recipe.to_dict()
    assert again.component("loss").config.real_label == 1.0
