"""The HTML report of a run: written at every run end, complete, self-contained, escaped, rebuildable."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
from headless_chromium import Chromium
from html_page import parse
from PIL import Image

from conftest import TINY_RECIPE, merge
from ganlab import Evaluator, ReportSection, hookimpl
from ganlab.common import tomlwrite
from ganlab.loading.manager import Plugins, load_plugins
from ganlab.page.html import escape
from ganlab.recipes.recipe import load_recipe
from ganlab.report import build as report_build
from ganlab.report import core_sections
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe
from ganlab.training.stopping import RunInterrupted

ALL_EVALUATORS = [
    {"name": "loss-curves"},
    {"name": "d-distributions", "num_images": 16},
    {"name": "samples"},
    {"name": "training-health", "num_images": 8},
]
HOSTILE = '<script>alert("owned")</script>'
SECTIONS = (
    "Summary",
    "Training health",
    "Recipe",
    "Loss curves",
    "Logged numbers",
    "D(x) and D(G(z))",
    "Samples",
    "Real images",
    "Metrics over time",
    "Environment",
)


def train(tmp: Path, plugins, **changes) -> RunDir:
    """A tiny run (16x16, 2 epochs of 4 steps) with every built-in evaluator; ``changes`` edit the recipe."""
    recipe = merge(TINY_RECIPE, {"evaluators": ALL_EVALUATORS, **changes})
    path = tmp / "recipe.toml"
    path.write_text(tomlwrite.dumps(recipe), "utf-8")
    return run_recipe(load_recipe(path, plugins.registry), plugins, tmp / "runs", progress=False)


@dataclasses.dataclass
class NoConfig:
    pass


class FakeMetric(Evaluator):
    """Stands in for a metric plugin: logs a score per epoch, with its protocol, as a FID evaluator would."""

    def on_epoch_end(self, run, epoch):
        run.log_evaluation(
            "fid",
            100.0 / epoch,
            library="torch-fidelity 0.4.0",
            num_fake=16,
            feature_extractor="<inception>",
            higher_is_better=False,
        )


class FakeMetricPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "fake-metric", lambda config, context: FakeMetric(), NoConfig)


@pytest.fixture(scope="module")
def metric_plugins() -> Plugins:
    return load_plugins([("fake-metric", FakeMetricPlugin())], entry_points=False)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, metric_plugins) -> RunDir:
    """One finished run shared by the read-only checks; its experiment name is hostile HTML."""
    tmp = tmp_path_factory.mktemp("report")
    return train(
        tmp,
        metric_plugins,
        experiment={"name": HOSTILE, "seed": 0, "device": "cpu"},
        evaluators=ALL_EVALUATORS + [{"name": "fake-metric"}],
    )


@pytest.fixture(scope="module")
def page(finished_run: RunDir) -> str:
    return finished_run.report_path.read_text("utf-8")


def test_a_finished_run_leaves_a_report_with_every_section(page):
    assert parse(page).titles == list(SECTIONS)


def test_every_image_is_embedded_and_decodes(page):
    images = {attrs["alt"]: attrs["src"] for tag, attrs in parse(page).tags if tag == "img"}
    assert set(images) == {
        "diversity of generated images relative to real images",
        "generator and discriminator loss per step",
        "distributions of D(x) and D(G(z)) per measurement",
        "mean D(x) and D(G(z)) over training",
        "samples after epoch 2",
        "the generator's samples over training",
        "samples after epoch 1",
        "real training images",
        "evaluation metrics over training steps",
    }
    for source in images.values():
        header, payload = source.split(",", 1)
        assert header in ("data:image/png;base64", "data:image/gif;base64")
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            image.load()
            assert image.width > 0 and image.height > 0


def test_the_progress_gif_is_animated_with_one_frame_per_epoch(page):
    gif = next(
        attrs["src"] for tag, attrs in parse(page).tags if tag == "img" and attrs["src"].startswith("data:image/gif")
    )
    with Image.open(io.BytesIO(base64.b64decode(gif.split(",", 1)[1]))) as image:
        assert image.n_frames == 2


def test_nothing_in_the_page_points_outside_it(page):
    for tag, attrs in parse(page).tags:
        assert tag not in ("script", "link", "iframe", "object", "embed")
        for name in ("src", "href", "action", "poster"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, attrs[name][:60])
    outside_images = re.sub(r'"data:image/(png|gif);base64,[A-Za-z0-9+/=]*"', '""', page)
    for reference in ("http:", "https:", "//", "url(", "@import"):
        assert reference not in outside_images


def test_the_page_forbids_scripts_and_remote_fetches(page):
    csp = next(
        attrs["content"]
        for tag, attrs in parse(page).tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in csp and "img-src data:" in csp and "script" not in csp


def test_a_hostile_run_name_is_escaped_everywhere(page):
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page


def test_a_report_rebuilt_from_the_run_directory_equals_the_one_written_at_the_end(
    finished_run, page, tmp_path, metric_plugins
):
    out = report_build.write_report(RunDir.open(finished_run.path), metric_plugins.registry, tmp_path / "again.html")
    assert out.read_text("utf-8") == page


def test_the_summary_reports_progress_speed_and_final_numbers(page):
    for text in (
        "finished",
        "8 of 8 steps (100%)",
        "2 of 2 completed",
        "images/s",
        "final loss D",
        "final D(G(z))",
        "health",
    ):
        assert text in page


def test_any_logged_metric_appears_over_time_with_its_protocol_and_its_best_value(page):
    section = page[page.index('<section id="metrics-over-time">') :]
    section = section[: section.index("</section>")]
    assert "<h3>fid</h3>" in section
    assert "<th>feature_extractor</th><td>&lt;inception&gt;</td>" in section
    assert "<th>num_fake</th><td>16</td>" in section
    assert "50 (step 8); best 50 (step 8)" in page


def test_a_metrics_final_value_is_the_one_taken_latest_in_training_whatever_the_order_written():
    # ganlab evaluate --checkpoint 1 on a finished run appends an older step's score after the run's own
    evaluations = [
        {"metric": "fid", "value": 80.0, "step": 4},
        {"metric": "fid", "value": 50.0, "step": 8},
        {"metric": "fid", "value": 81.0, "step": 4, "checkpoint": "epoch_0001.pt"},
    ]
    assert core_sections.best_evaluations(evaluations) == [("fid", "50 (step 8)")]
    assert [r["step"] for r in core_sections.by_metric(evaluations)["fid"]] == [4, 4, 8]


def test_d_distributions_are_measured_before_training_and_after_each_epoch(finished_run):
    records = finished_run.read_jsonl("evaluators/d-distributions/scores.jsonl")
    assert [(r["label"], r["step"]) for r in records] == [("before training", 0), ("epoch 1", 4), ("epoch 2", 8)]
    assert all(len(r["real"]) == 16 and all(0.0 <= p <= 1.0 for p in r["real"] + r["fake"]) for r in records)


def test_every_evaluator_leaves_its_data_in_the_run_directory(finished_run):
    evaluators = finished_run.path / "evaluators"
    for name in (
        "d-distributions/scores.jsonl",
        "samples/real.png",
        "samples/evolution.gif",
        "training-health/diversity.jsonl",
        "training-health/flags.json",
    ):
        assert (evaluators / name).stat().st_size > 0, name
    assert isinstance(json.loads((evaluators / "training-health/flags.json").read_text()), list)


def test_overridden_recipe_values_are_marked(tmp_path, plugins):
    path = tmp_path / "recipe.toml"
    path.write_text(tomlwrite.dumps({**TINY_RECIPE, "train": {**TINY_RECIPE["train"], "epochs": 1}}), "utf-8")
    recipe = load_recipe(path, plugins.registry, ["train.max_steps=2", "loss.real_label=0.8"])
    run_dir = run_recipe(recipe, plugins, tmp_path / "runs", progress=False)
    page = run_dir.report_path.read_text("utf-8")
    assert re.search(r"<td>max_steps</td><td>2<span class=\"set\">--set</span>", page)
    assert re.search(r"<td>real_label</td><td>0.8<span class=\"set\">--set</span>", page)
    assert not re.search(r"<td>batch_size</td><td>16<span", page)


# -- runs that do not finish ---------------------------------------------------------------------------


@dataclasses.dataclass
class TripConfig:
    pass


class Trip(Evaluator):
    """An evaluator that stops the run after its first epoch, the way a crash or a Ctrl-C would."""

    def __init__(self, exception: BaseException):
        self.exception = exception

    def on_epoch_end(self, run, epoch):
        raise self.exception


class TripPlugin:
    def __init__(self, exception: BaseException):
        self.exception = exception

    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "trip", lambda config, context: Trip(self.exception), TripConfig)


@pytest.mark.parametrize(
    "exception, raised, status, why",
    [
        (RuntimeError("disk on fire"), RuntimeError, "failed", "RuntimeError: disk on fire"),
        (KeyboardInterrupt(), RunInterrupted, "interrupted", "interrupted by Ctrl-C (SIGINT) at step 4"),
    ],
)
def test_a_run_that_stops_early_still_leaves_a_report_saying_how_far_it_got_and_why(
    tmp_path, exception, raised, status, why
):
    plugins = load_plugins([("trip", TripPlugin(exception))], entry_points=False)
    with pytest.raises(raised):
        train(tmp_path, plugins, evaluators=[{"name": "loss-curves"}, {"name": "trip"}])
    run_dir = RunDir(next((tmp_path / "runs").iterdir()))
    page = run_dir.report_path.read_text("utf-8")
    assert run_dir.read_meta()["status"] == status
    assert f'class="badge {"bad" if status == "failed" else "warn"}">{status}<' in page
    assert "4 of 8 steps (50%)" in page
    assert why in page
    assert "Loss curves" in parse(page).titles


def test_a_report_that_cannot_be_written_is_recorded_without_masking_the_run(tmp_path, plugins, monkeypatch):
    def broken(run_dir, registry, out=None):
        raise OSError("no space left on device")

    monkeypatch.setattr("ganlab.training.lifecycle.write_report", broken)
    run_dir = train(tmp_path, plugins, train={"epochs": 1}, evaluators=[])
    meta = run_dir.read_meta()
    assert meta["status"] == "finished"
    assert meta["report_error"] == "OSError: no space left on device"
    assert not run_dir.report_path.exists()


# -- third-party evaluators ---------------------------------------------------------------------------------


@dataclasses.dataclass
class NoteConfig:
    text: str = "plain"


class Note(Evaluator):
    """A plugin's evaluator: writes its own file at the end and contributes a section read from that file."""

    def __init__(self, text: str):
        self.text = text

    def on_run_end(self, run, status):
        (run.run_dir.evaluator_dir("note") / "note.txt").write_text(f"{self.text} at step {run.step}")

    def report_sections(self, run_dir):
        note = (run_dir.path / "evaluators" / "note" / "note.txt").read_text()
        return [ReportSection("Plugin note", f"<p>{escape(note)}</p>", order=70, summary=(("note", escape(note)),))]


class NotePlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "note", lambda config, context: Note(config.text), NoteConfig)


def test_a_plugin_evaluator_contributes_its_own_section_and_summary_row(tmp_path):
    plugins = load_plugins([("note-plugin", NotePlugin())], entry_points=False)
    run_dir = train(tmp_path, plugins, train={"epochs": 1}, evaluators=[{"name": "note", "text": "<b>bold</b> claim"}])
    page = run_dir.report_path.read_text("utf-8")
    assert "Plugin note" in parse(page).titles
    assert page.count("&lt;b&gt;bold&lt;/b&gt; claim at step 4") == 2
    assert "<b>" not in page


def test_ganlab_report_rebuilds_the_page_and_says_which_evaluator_is_no_longer_installed(tmp_path, run_cli):
    plugins = load_plugins([("note-plugin", NotePlugin())], entry_points=False)
    run_dir = train(tmp_path, plugins, train={"epochs": 1}, evaluators=[{"name": "note"}, {"name": "loss-curves"}])
    out = tmp_path / "rebuilt.html"
    result = run_cli("report", run_dir.path, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    page = out.read_text("utf-8")
    assert "evaluators[0].name: unknown evaluator &#x27;note&#x27;" in page and "so its section is missing" in page
    assert "Loss curves" in parse(page).titles and "Plugin note" not in parse(page).titles


def test_a_broken_section_costs_only_that_section(tmp_path, plugins, monkeypatch):
    run_dir = train(tmp_path, plugins, train={"epochs": 1}, evaluators=[{"name": "loss-curves"}, {"name": "samples"}])

    def explode(self, run_dir):
        raise ValueError("bad data")

    monkeypatch.setattr("ganlab.evaluators.loss_curves.LossCurves.report_sections", explode)
    page = report_build.build_report(run_dir, plugins.registry)
    assert "evaluators[0] (loss-curves): its report section failed: ValueError: bad data" in page
    assert "Loss curves" not in parse(page).titles and "Samples" in parse(page).titles


# -- the command -----------------------------------------------------------------------------------------


def test_report_of_a_folder_that_is_not_a_run_is_a_clean_error(tmp_path, run_cli):
    result = run_cli("report", tmp_path)
    assert result.exit_code == 5
    assert "is not a run directory (no meta.json)" in result.output
    assert "Traceback" not in result.output


def test_report_into_a_folder_is_a_clean_error(finished_run, tmp_path, run_cli):
    result = run_cli("report", finished_run.path, "-o", tmp_path)
    assert result.exit_code == 5
    assert "is a folder; give the path of the HTML file" in result.output


# -- in a real browser -----------------------------------------------------------------------------------


def test_the_report_renders_in_a_real_browser_with_every_image_loaded(finished_run, chromium_path, tmp_path):
    shot = tmp_path / "report.png"
    with Chromium(chromium_path, tmp_path / "profile") as browser:
        browser.load(finished_run.report_path)
        images = browser.images()
        browser.screenshot(shot)
    assert len(images) == 9
    assert all(image["naturalWidth"] > 0 and image["naturalHeight"] > 0 for image in images), images
    with Image.open(shot) as picture:
        assert picture.width == 1280 and picture.height > 3000
        assert picture.convert("L").getextrema()[0] < 100  # there is ink on the page, not a blank sheet
