"""Every function of the Python API checks what it is given at the door: a wrong argument is a
GanlabError naming the function, the parameter, what it was given and what it takes, with the exit code of
the command that does the same work (a recipe or override 2, a run path 5, anything else 2, as the command
line's usage errors); never an AttributeError or TypeError from deep inside."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import ganlab
from ganlab.testing import TINY_RECIPE

QUICKSTART = Path(__file__).resolve().parent.parent / "experiments" / "quickstart.toml"

ONE_EPOCH = {**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epochs": 1}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> ganlab.RunResult:
    return ganlab.run(ONE_EPOCH, out=tmp_path_factory.mktemp("arguments") / "runs", progress=False)


PATH_WORDS = "a path (a str or an os.PathLike such as pathlib.Path)"

REFUSED = {
    "overrides as --set texts": (
        lambda run, out: ganlab.run(ONE_EPOCH, overrides=["train.epochs=1"], out=out),
        2,
        "ganlab.run: overrides must be None or a dict of dotted keys to values, such as {'train.epochs': 3}; "
        "got ['train.epochs=1'] (a list)",
    ),
    "an override key that is not a string": (
        lambda run, out: ganlab.run(ONE_EPOCH, overrides={("train", "epochs"): 1}, out=out),
        2,
        "ganlab.run: overrides must be None or a dict of dotted keys",
    ),
    "a recipe that is neither a path nor a dict": (
        lambda run, out: ganlab.run(42, out=out),
        2,
        "ganlab.run: recipe must be a path to a TOML recipe or a dict shaped like one; got 42 (an int)",
    ),
    "an output folder that is not a path": (
        lambda run, out: ganlab.run(ONE_EPOCH, out=3),
        5,
        f"ganlab.run: out must be {PATH_WORDS}; got 3 (an int)",
    ),
    "a name that is not a string": (
        lambda run, out: ganlab.run(ONE_EPOCH, out=out, name=7),
        2,
        "ganlab.run: name must be None or a string; got 7 (an int)",
    ),
    "progress that is not a bool": (
        lambda run, out: ganlab.run(ONE_EPOCH, out=out, progress="no"),
        2,
        "ganlab.run: progress must be True or False; got 'no' (a str)",
    ),
    "resume without a path": (
        lambda run, out: ganlab.resume(None),
        5,
        f"ganlab.resume: path must be {PATH_WORDS}; got None",
    ),
    "resume with overrides as a string": (
        lambda run, out: ganlab.resume(run.path, overrides="train.epochs=3"),
        2,
        "ganlab.resume: overrides must be None or a dict",
    ),
    "load_run of a number": (
        lambda run, out: ganlab.load_run(3),
        5,
        f"ganlab.load_run: path must be {PATH_WORDS}; got 3 (an int)",
    ),
    "RunDir.open of a number": (
        lambda run, out: ganlab.RunDir.open(3),
        5,
        f"ganlab.RunDir.open: path must be {PATH_WORDS}; got 3 (an int)",
    ),
    "compare of a number": (
        lambda run, out: ganlab.compare(3),
        5,
        "ganlab.compare: paths must be a path, or a non-empty list or tuple of paths; got 3 (an int)",
    ),
    "compare of an empty list": (
        lambda run, out: ganlab.compare([]),
        5,
        "ganlab.compare: paths must be a path, or a non-empty list",
    ),
    "compare of a list holding None": (
        lambda run, out: ganlab.compare([run.path, None]),
        5,
        "ganlab.compare: paths must be a path",
    ),
    "a RunResult of a path": (
        lambda run, out: ganlab.RunResult(str(run.path)),
        2,
        "ganlab.RunResult: run_dir must be a ganlab.RunDir (ganlab.load_run(path) makes the RunResult of a path)",
    ),
    "True images": (
        lambda run, out: run.generate(True),
        2,
        "RunResult.generate: num must be a whole number at least 1 (an int, not a bool); got True (a bool)",
    ),
    "no images": (lambda run, out: run.generate(0), 2, "RunResult.generate: num must be a whole number at least 1"),
    "a float number of images": (
        lambda run, out: run.generate(2.0),
        2,
        "RunResult.generate: num must be a whole number at least 1",
    ),
    "a negative seed": (
        lambda run, out: run.generate(2, seed=-1),
        2,
        "RunResult.generate: seed must be a whole number from 0 to 4294967295 (an int, not a bool); got -1 (an int)",
    ),
    "a checkpoint given as a float": (
        lambda run, out: run.generate(2, checkpoint=1.0),
        2,
        "RunResult.generate: checkpoint must be None or a file name in checkpoints/ or an epoch number; "
        "got 1.0 (a float)",
    ),
    "a device torch does not name so": (
        lambda run, out: run.generate(2, device="gpu"),
        2,
        "RunResult.generate: device must be one of 'auto', 'cpu', 'cuda', 'mps'; got 'gpu' (a str)",
    ),
    "a condition that is not a string": (
        lambda run, out: run.generate(2, condition={"Smiling": 1}),
        2,
        "RunResult.generate: condition must be None or a string; got {'Smiling': 1} (a dict)",
    ),
    "a label space recorded as a string": (
        lambda run, out: ganlab.LabelSpace.from_dict("Smiling"),
        2,
        'a label space is recorded as {"attributes": [{"name": NAME, "values": [VALUE, ...]}, ...]}, not \'Smiling\'',
    ),
    "an attribute's values as one string": (
        lambda run, out: ganlab.Attribute("Smiling", "01"),
        2,
        "ganlab.Attribute 'Smiling': values must be a list or tuple of one or more distinct strings, such as "
        "('0', '1'); got '01' (a str)",
    ),
    "an attribute with a value twice": (
        lambda run, out: ganlab.Attribute("hair", ("red", "red")),
        2,
        "ganlab.Attribute 'hair': values must be a list or tuple of one or more distinct strings",
    ),
    "a label space naming an attribute twice": (
        lambda run, out: ganlab.LabelSpace((ganlab.Attribute("Smiling"), ganlab.Attribute("Smiling"))),
        2,
        "ganlab.LabelSpace: attributes must be a tuple of one or more ganlab.Attribute with distinct names",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_wrong_argument_is_refused_naming_the_parameter_what_it_got_and_what_it_takes(case, trained, tmp_path):
    call, exit_code, message = REFUSED[case]
    with pytest.raises(ganlab.GanlabError, match=re.escape(message)) as error:
        call(trained, tmp_path / "runs")
    assert error.value.exit_code == exit_code
    assert not (tmp_path / "runs").exists(), "refused before anything was made"


def test_a_path_may_be_any_os_pathlike_such_as_a_directory_entry(trained):
    [entry] = [e for e in os.scandir(trained.path.parent) if e.name == trained.name]
    assert ganlab.load_run(entry).path == trained.path


def test_an_attribute_s_values_may_be_a_list_as_meta_json_holds_them():
    space = ganlab.LabelSpace((ganlab.Attribute("Smiling"), ganlab.Attribute("hair", ["red", "blond"])))
    assert space.attributes[1] == ganlab.Attribute("hair", ("red", "blond"))
    assert ganlab.LabelSpace.from_dict(space.to_dict()) == space


def test_an_argument_error_is_also_the_type_or_value_error_python_code_expects():
    with pytest.raises(ValueError):
        ganlab.LabelSpace.from_dict("Smiling")
    with pytest.raises(TypeError):
        ganlab.Attribute("Smiling", "01")


def test_an_unreadable_progress_grid_is_left_out_of_samples_with_a_warning(trained, tmp_path, capsys):
    import shutil

    copy = ganlab.load_run(shutil.copytree(trained.path, tmp_path / "run"))
    (copy.path / "samples" / "epoch_0001.png").write_bytes(b"cut short")
    assert copy.samples() == []
    assert "epoch_0001.png' is not a readable image; left out" in capsys.readouterr().err
    assert "<figure>" not in copy._repr_html_()


def _nested(depth: int) -> list:
    outer = inner = []
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


@pytest.mark.parametrize(
    "overrides, said",
    [
        ({"train.epochs": 10**5000}, "overrides: train.epochs: an integer longer than Python writes (4300 digits)"),
        ({"train.epochs": _nested(5000)}, "overrides: train.epochs: nested deeper than a recipe may be"),
    ],
)
def test_an_override_python_cannot_write_as_toml_is_a_recipe_error(overrides, said, tmp_path):
    with pytest.raises(ganlab.GanlabError) as refused:
        ganlab.run(QUICKSTART, overrides, out=tmp_path, progress=False)
    assert refused.value.exit_code == 2 and said in str(refused.value)
    assert not any(tmp_path.iterdir())
