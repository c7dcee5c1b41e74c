"""A label space keeps its column order in every record a run leaves: meta.json (written with sorted
keys), its checkpoints, and the older runs whose meta.json sorted the names themselves. The run here
labels faces with ``hair`` (5 values) then ``glasses`` (2): not alphabetical, and of different sizes, so
names paired with the wrong columns cannot go unnoticed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganlab
from ganlab.rundir.rundir import RunDir
from ganlab.testing import TINY_RECIPE

HAIR = ("black", "brown", "blond", "red", "grey")
HAIR_THEN_GLASSES = {
    **TINY_RECIPE,
    "data": {**TINY_RECIPE["data"], "attributes": ["hair", "glasses"]},
    "generator": {**TINY_RECIPE["generator"], "name": "cdcgan"},
    "discriminator": {**TINY_RECIPE["discriminator"], "name": "cdcgan-projection"},
    "train": {**TINY_RECIPE["train"], "epochs": 1},
}
SPACE = ganlab.LabelSpace((ganlab.Attribute("hair", HAIR), ganlab.Attribute("glasses")))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> ganlab.RunResult:
    return ganlab.run(HAIR_THEN_GLASSES, out=tmp_path_factory.mktemp("runs"), progress=False)


def meta_json(run: ganlab.RunResult) -> dict:
    return json.loads((run.path / "meta.json").read_text("utf-8"))


def older_meta(run: ganlab.RunResult) -> dict:
    """The run's meta.json as earlier versions of ganlab wrote it: each label space a {name: values} table,
    its names sorted by json.dumps(sort_keys=True)."""
    meta = meta_json(run)
    table = {a.name: list(a.values) for a in SPACE.attributes}
    meta["label_space"] = table
    meta["labels"]["space"] = table
    return json.loads(json.dumps(meta, sort_keys=True))


def write_meta(run: ganlab.RunResult, meta: dict) -> None:
    (run.path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True), "utf-8")


def test_meta_json_s_label_space_reads_back_in_column_order_and_fits_the_recorded_label_rows(trained):
    meta = meta_json(trained)
    space = ganlab.LabelSpace.from_dict(meta["label_space"])
    assert space == SPACE
    space.check(torch.tensor(meta["labels"]["rows"]))  # hair's values in column 0
    assert ganlab.LabelSpace.from_dict(meta["labels"]["space"]) == SPACE
    assert space.parse("glasses=1,hair=blond") == {1: 1, 0: 2}


def test_generate_fixes_the_column_a_condition_names(trained, run_cli, tmp_path):
    for condition in ("hair=blond,glasses=1", "glasses=1,hair=2", "hair=grey,glasses=1"):
        result = run_cli(
            "generate",
            trained.path,
            "--num",
            2,
            "--seed",
            5,
            "--condition",
            condition,
            "--out-dir",
            tmp_path / condition,
        )
        assert result.exit_code == 0, result.output
    images = {
        c: [np.asarray(Image.open(p)) for p in sorted((tmp_path / c).glob("*.png"))]
        for c in ("hair=blond,glasses=1", "glasses=1,hair=2", "hair=grey,glasses=1")
    }
    assert all(np.array_equal(a, b) for a, b in zip(images["hair=blond,glasses=1"], images["glasses=1,hair=2"]))
    assert not np.array_equal(images["hair=blond,glasses=1"][0], images["hair=grey,glasses=1"][0])


def test_a_checkpoint_of_an_earlier_ganlab_is_read_in_its_own_column_order(trained, run_cli, tmp_path):
    """Its label space is a {name: values} table whose keys torch.save kept in column order."""
    run = RunDir.open(trained.path)
    newest = run.checkpoints()[-1]
    state = torch.load(newest, weights_only=True)
    state["labels"]["space"] = {a.name: list(a.values) for a in SPACE.attributes}
    run.save_checkpoint("older.pt", state)
    for checkpoint in (newest.name, "older.pt"):
        result = run_cli(
            "generate",
            trained.path,
            "--checkpoint",
            checkpoint,
            "--num",
            2,
            "--seed",
            5,
            "--condition",
            "hair=blond,glasses=1",
            "-o",
            tmp_path / f"{checkpoint}.png",
        )
        assert result.exit_code == 0, result.output
    # the same images (the files' text chunks name each checkpoint)
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / f"{newest.name}.png")), np.asarray(Image.open(tmp_path / "older.pt.png"))
    )


def test_an_older_meta_json_is_put_back_in_column_order_from_the_run_s_recipe(trained):
    original = meta_json(trained)
    write_meta(trained, older_meta(trained))
    try:
        meta = ganlab.load_run(trained.path).meta
        assert ganlab.LabelSpace.from_dict(meta["label_space"]) == SPACE
        assert ganlab.LabelSpace.from_dict(meta["labels"]["space"]) == SPACE
    finally:
        write_meta(trained, original)


def test_an_older_sorted_label_space_is_refused_rather_than_paired_with_the_wrong_columns(trained):
    with pytest.raises(
        ValueError, match="sorted its names, so which column of a label row each one is was lost.*order="
    ) as error:
        ganlab.LabelSpace.from_dict(older_meta(trained)["label_space"])
    assert "'glasses', 'hair'" in str(error.value) and "ganlab.load_run(RUN).meta" in str(error.value)
    assert ganlab.LabelSpace.from_dict(older_meta(trained)["label_space"], order=["hair", "glasses"]) == SPACE


def test_an_older_table_of_one_attribute_needs_no_order():
    space = ganlab.LabelSpace.from_dict({"class": ["cats", "dogs"]})
    assert space == ganlab.LabelSpace((ganlab.Attribute("class", ("cats", "dogs")),))


@pytest.mark.parametrize(
    "record, named",
    [
        ({"attributes": [{"name": "hair"}]}, "attribute 'hair' has values None, not a list of at least one string"),
        ({"attributes": [{"values": ["0", "1"]}]}, 'an attribute of a label space is {"name": NAME'),
        ({"attributes": [{"name": "glasses", "values": ["0", "1"]}] * 2}, "names attribute 'glasses' twice"),
        (["hair", "glasses"], 'a label space is recorded as {"attributes"'),
    ],
)
def test_a_malformed_label_space_record_is_refused_saying_what_is_wrong(record, named):
    with pytest.raises(ValueError) as error:
        ganlab.LabelSpace.from_dict(record)
    assert named in str(error.value)


def test_a_resumed_older_run_rewrites_its_meta_json_in_the_current_form(run_cli, tmp_path):
    stopped = ganlab.run(
        {**HAIR_THEN_GLASSES, "train": {**HAIR_THEN_GLASSES["train"], "max_steps": 2}}, out=tmp_path, progress=False
    )
    write_meta(stopped, older_meta(stopped))
    result = run_cli("run", "--resume", stopped.path, "--set", "train.max_steps=0", "--no-progress")
    assert result.exit_code == 0, result.output
    meta = meta_json(stopped)
    assert meta["status"] == "finished"
    assert meta["label_space"] == meta["labels"]["space"] == SPACE.to_dict()


def test_a_label_space_reads_as_its_attributes_in_column_order():
    assert list(SPACE) == [ganlab.Attribute("hair", HAIR), ganlab.Attribute("glasses")]
    assert len(SPACE) == 2 and [attribute.name for attribute in SPACE] == list(SPACE.names)
