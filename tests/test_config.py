"""Config dataclasses: TOML values are checked against typed fields, and every problem is named."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ganlab.common.config import build_config, config_to_dict, describe_fields, param


@dataclasses.dataclass
class Example:
    size: int = param(64, "image side", min=8)
    rate: float = param(0.5, "a rate", min=0.0, max=1.0)
    betas: tuple[float, float] = param((0.5, 0.999), "two numbers")
    mode: Literal["fast", "exact"] = param("fast", "how")
    label: str = param("x", "a label")
    flag: bool = param(False, "a switch")


def test_valid_table_becomes_typed_instance():
    config, problems = build_config(Example, {"size": 32, "rate": 1, "betas": [0.0, 0.9], "mode": "exact"}, "gen")
    assert problems == []
    assert config == Example(size=32, rate=1.0, betas=(0.0, 0.9), mode="exact")
    assert isinstance(config.rate, float) and isinstance(config.betas, tuple)


def test_unknown_key_names_the_dotted_key_and_the_close_match():
    _, problems = build_config(Example, {"sise": 3}, "generator")
    assert problems == ["generator.sise: unknown key (did you mean 'size'?)"]


def test_unknown_key_without_close_match_lists_known_keys():
    _, problems = build_config(Example, {"zzz": 3}, "generator")
    assert problems[0].startswith("generator.zzz: unknown key; known keys: size, rate")


def test_wrong_types_are_reported_with_what_was_given():
    _, problems = build_config(Example, {"size": "big", "flag": 1, "label": 3, "rate": True}, "s")
    assert "s.size: expected int, got a string ('big')" in problems
    assert "s.flag: expected bool, got an integer (1)" in problems
    assert "s.label: expected str, got an integer (3)" in problems
    assert "s.rate: expected float, got a boolean (True)" in problems


def test_bounds_are_enforced():
    _, problems = build_config(Example, {"size": 4, "rate": 1.5}, "s")
    assert problems == ["s.size: must be at least 8, got 4", "s.rate: must be at most 1.0, got 1.5"]


def test_literal_choices_suggest_the_close_one():
    _, problems = build_config(Example, {"mode": "exakt"}, "s")
    assert problems == ["s.mode: 'exakt' is not one of 'fast', 'exact' (did you mean 'exact'?)"]


def test_tuple_length_is_checked():
    _, problems = build_config(Example, {"betas": [0.5]}, "s")
    assert problems == ["s.betas: expected a list of 2 values, got 1"]


def test_all_problems_are_collected_at_once():
    _, problems = build_config(Example, {"size": 1, "mode": "x", "nope": 0}, "s")
    assert len(problems) == 3


def test_post_init_value_error_is_reported_against_the_section():
    @dataclasses.dataclass
    class Checked:
        low: int = param(0, "low")
        high: int = param(1, "high")

        def __post_init__(self):
            if self.low >= self.high:
                raise ValueError("low must be below high")

    _, problems = build_config(Checked, {"low": 5}, "train")
    assert problems == ["train: low must be below high"]


def test_required_field_without_default_is_reported():
    @dataclasses.dataclass
    class NeedsRoot:
        root: str = param(help="where")

    _, problems = build_config(NeedsRoot, {}, "data")
    assert problems == ["data.root: required key is missing"]


def test_fields_are_described_for_listing():
    infos = {f.name: f for f in describe_fields(Example)}
    assert infos["size"].type == "int" and infos["size"].default == 64 and infos["size"].help == "image side"
    assert infos["mode"].type == "'fast' | 'exact'"


def test_config_to_dict_gives_toml_ready_values():
    assert config_to_dict(Example())["betas"] == [0.5, 0.999]


def test_list_defaults_are_not_shared_between_instances():
    @dataclasses.dataclass
    class WithList:
        items: list[int] = param([1, 2], "items")

    a, b = WithList(), WithList()
    a.items.append(3)
    assert b.items == [1, 2]


def test_a_table_field_checks_each_value_by_its_key_and_is_written_inline_when_empty():
    from ganlab.common import tomlwrite

    @dataclasses.dataclass
    class Shares:
        shares: dict[str, float | dict[str, float]] = param({}, "per name a share, or a table of them")

    config, problems = build_config(Shares, {"shares": {"a": 1, "b": {"x": 0.5}}}, "data")
    assert problems == [] and config.shares == {"a": 1.0, "b": {"x": 0.5}}
    _, problems = build_config(Shares, {"shares": {"a": "many"}}, "data")
    assert problems == ["data.shares.a: expected float | table of float, got a string ('many')"]
    _, problems = build_config(Shares, {"shares": [1]}, "data")
    assert problems == ["data.shares: expected table of (float | table of float), got a list ([1])"]
    assert describe_fields(Shares)[0].type == "table of (float | table of float)"
    assert tomlwrite.dumps({"data": config_to_dict(Shares())}) == "[data]\nshares = {}\n"


def test_a_float_no_float32_holds_is_refused_wherever_it_sits_in_the_value():
    _, problems = build_config(Example, {"rate": float("nan"), "betas": [0.5, 1e39]}, "s")
    assert problems == [
        "s.rate: must be a finite number, got nan",
        "s.betas[1]: must be within float32's range (at most 3.403e+38 in size), got 1e+39",
    ]


def test_a_float_field_declared_not_finite_takes_inf_and_nan():
    @dataclasses.dataclass
    class Limit:
        most: float = param(float("inf"), "stop above this; inf is never", min=0.0, finite=False)

    config, problems = build_config(Limit, {"most": float("inf")}, "train")
    assert problems == [] and config.most == float("inf")
