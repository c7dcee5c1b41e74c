"""The Python API (``ganlab.run``, ``resume``, ``load_run``, ``compare``, ``RunResult``) returns what the
commands write, raises the errors the commands print, and leaves no signal handler behind."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import ganlab
from ganlab import Evaluator, hookimpl
from ganlab.common import tomlwrite
from ganlab.testing import TINY_RECIPE

PYTHON_API = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text("utf-8")
EVALUATORS = [{"name": "samples"}, {"name": "swd", "every": 1, "num_samples": 64}]
RECIPE = {**TINY_RECIPE, "evaluators": EVALUATORS}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> ganlab.RunResult:
    """One tiny run (2 epochs of 4 steps, 16x16) trained through the API, shared by the read-only tests."""
    return ganlab.run(RECIPE, out=tmp_path_factory.mktemp("api") / "runs", progress=False)


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["time"])


def test_run_trains_and_returns_the_finished_run(trained):
    assert trained.status == "finished"
    assert (trained.path / "meta.json").is_file() and trained.path.parent.name == "runs"
    assert trained.metrics["step"].tolist() == list(range(1, 9))
    assert trained.recipe["train"]["epochs"] == 2


def test_run_gives_what_ganlab_run_gives_for_the_same_recipe(trained, tmp_path, write_recipe, train_recipe):
    from_cli = ganlab.load_run(train_recipe(write_recipe({"evaluators": EVALUATORS})).path)
    pd.testing.assert_frame_equal(without_time(trained.metrics), without_time(from_cli.metrics))
    pd.testing.assert_frame_equal(without_time(trained.evaluations), without_time(from_cli.evaluations))


def test_load_run_frames_are_the_jsonl_files(trained):
    loaded = ganlab.load_run(trained.path)
    for frame, name in ((loaded.metrics, "metrics.jsonl"), (loaded.evaluations, "evaluations.jsonl")):
        lines = [json.loads(line) for line in (trained.path / name).read_text("utf-8").splitlines()]
        assert frame.to_dict("records") == lines
    assert "swd" in set(loaded.evaluations["metric"])


def test_samples_are_the_progress_grids_in_epoch_order(trained):
    grids = trained.samples()
    files = sorted((trained.path / "samples").glob("epoch_*.png"))
    assert len(grids) == len(files) == 2
    for grid, path in zip(grids, files):
        assert np.array_equal(np.asarray(grid), np.asarray(Image.open(path)))


def test_generate_makes_the_images_ganlab_generate_makes(trained, run_cli, tmp_path):
    result = run_cli("generate", trained.path, "--num", 5, "--seed", 3, "--out-dir", tmp_path / "faces")
    assert result.exit_code == 0, result.output
    written = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "faces").glob("*.png"))]
    made = trained.generate(5, seed=3)
    assert len(made) == 5 and all(isinstance(image, Image.Image) for image in made)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(made, written))
    assert not np.array_equal(np.asarray(trained.generate(1, seed=4)[0]), written[0])


CONDITIONAL = {
    **TINY_RECIPE,
    "data": {**TINY_RECIPE["data"], "attributes": ["glasses", "hair"]},
    "generator": {**TINY_RECIPE["generator"], "name": "cdcgan"},
    "discriminator": {**TINY_RECIPE["discriminator"], "name": "cdcgan-projection"},
    "train": {**TINY_RECIPE["train"], "epochs": 1},
}


def test_generate_fixes_the_attributes_a_condition_names_as_ganlab_generate_does(run_cli, tmp_path):
    trained = ganlab.run(CONDITIONAL, out=tmp_path / "runs", progress=False)
    result = run_cli(
        "generate", trained.path, "--num", 3, "--seed", 2, "--condition", "hair=blond", "--out-dir", tmp_path / "blond"
    )
    assert result.exit_code == 0, result.output
    written = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "blond").glob("*.png"))]
    blond = trained.generate(3, seed=2, condition="hair=blond")
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(blond, written))
    grey = trained.generate(3, seed=2, condition="hair=grey")
    assert not np.array_equal(np.asarray(blond[0]), np.asarray(grey[0]))
    with pytest.raises(ganlab.GanlabError, match="unknown attribute 'hiar'"):
        trained.generate(3, seed=2, condition="hiar=blond")


def test_overrides_are_read_as_set_reads_them(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text(tomlwrite.dumps(TINY_RECIPE), "utf-8")
    result = ganlab.run(
        path,
        overrides={"train.epochs": 1, "loss.real_label": 0.8, "experiment.name": "a b"},
        out=tmp_path / "runs",
        progress=False,
    )
    assert result.recipe["train"]["epochs"] == 1 and result.recipe["loss"]["real_label"] == 0.8
    assert result.meta["overrides"] == ["train.epochs=1", "loss.real_label=0.8", 'experiment.name="a b"']
    assert result.path.name.startswith("a-b-")


def test_errors_are_the_ganlab_errors_the_cli_prints(tmp_path, trained):
    with pytest.raises(ganlab.GanlabError, match="is not a run directory") as error:
        ganlab.load_run(tmp_path)
    assert error.value.exit_code == 5
    with pytest.raises(ganlab.GanlabError, match=r"recipe \(a dict\): train.epoch: unknown key.*epochs") as error:
        ganlab.run({**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epoch": 3}}, out=tmp_path / "runs")
    assert error.value.exit_code == 2
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ganlab.GanlabError, match="overrides: train.epochs: cannot write object"):
        ganlab.run(RECIPE, overrides={"train.epochs": object()}, out=tmp_path / "runs")
    with pytest.raises(ganlab.GanlabError, match="seed must be a whole number from 0"):
        trained.generate(4, seed=-1)


def test_the_notebook_view_inlines_the_latest_grid_and_escapes_the_name(tmp_path):
    result = ganlab.run(
        RECIPE, overrides={"experiment.name": "<b>mine</b> & co"}, out=tmp_path / "runs", progress=False
    )
    page = result._repr_html_()
    assert "<b>mine</b>" not in page and "&lt;b&gt;mine&lt;/b&gt; &amp; co" in page
    latest = (result.path / "samples" / "epoch_0002.png").read_bytes()
    assert f"data:image/png;base64,{base64.b64encode(latest).decode()}" in page
    assert "finished" in page and "samples after epoch 2" in page


class InterruptAfterFirstEpoch(Evaluator):
    """Stands in for a notebook user interrupting the kernel (which sends SIGINT) during training."""

    def on_epoch_end(self, run, epoch):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)


class InterruptPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        import dataclasses

        registry.add(
            "evaluator",
            "interrupt",
            lambda config, context: InterruptAfterFirstEpoch(),
            dataclasses.make_dataclass("NoConfig", []),
        )


def test_an_interrupt_leaves_the_run_resumable_and_no_handler_behind(tmp_path, register_plugin):
    register_plugin(InterruptPlugin(), "interrupt")
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(ganlab.GanlabError, match="interrupted by Ctrl-C") as error:
        ganlab.run({**TINY_RECIPE, "evaluators": [{"name": "interrupt"}]}, out=tmp_path / "runs", progress=False)
    assert error.value.exit_code == 130
    assert {signum: signal.getsignal(signum) for signum in before} == before
    path = Path(re.search(r"--resume (\S+)", str(error.value)).group(1))
    assert ganlab.load_run(path).status == "interrupted"
    resumed = ganlab.resume(path, progress=False)
    assert resumed.status == "finished" and resumed.metrics["step"].tolist() == list(range(1, 9))


def test_compare_returns_the_grouped_tables(trained, tmp_path):
    second = ganlab.run(RECIPE, overrides={"experiment.seed": 1}, out=tmp_path / "runs", progress=False)
    comparison = ganlab.compare([trained.path, second.path])
    assert comparison.runs["seed"].tolist() == [0, 1]
    assert comparison.runs["group"].nunique() == 1
    swd = comparison.groups[comparison.groups["quantity"] == "swd"].iloc[0]
    finals = comparison.runs["swd"]
    assert swd["n"] == 2 and swd["mean"] == pytest.approx(finals.mean())
    assert swd["std"] == pytest.approx(finals.std(ddof=1))
    assert comparison.statement.startswith("All 2 runs differ only in their seed")


def test_the_documented_notebook_example_runs(tmp_path, monkeypatch):
    block = PYTHON_API
    block = block[block.index("```python\n") + len("```python\n") :]
    block = block[: block.index("```")]
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "quickstart.toml").write_text(tomlwrite.dumps(RECIPE), "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ganlab, "run", tiny(ganlab.run))
    namespace: dict = {}
    exec(compile(block, "docs/python-api.md", "exec"), namespace)
    assert namespace["runs"] and all(run.status == "finished" for run in namespace["runs"])
    assert isinstance(namespace["comparison"], ganlab.GroupedComparison)


def tiny(run):
    """``ganlab.run`` with the documented example's own overrides kept but the epochs cut to the test's two."""

    def shrunk(recipe, overrides=None, **kwargs):
        return run(
            recipe,
            overrides={**(overrides or {}), "train.epochs": 2},
            progress=False,
            **{k: v for k, v in kwargs.items() if k != "progress"},
        )

    return shrunk
