"""``ganlab compare``: runs side by side in the terminal and on one self-contained page."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from headless_chromium import Chromium
from html_page import parse

from conftest import TINY_RECIPE, merge
from ganlab import Evaluator, hookimpl
from ganlab.common import tomlwrite
from ganlab.compare import sections as compare_sections
from ganlab.compare.metric_protocols import protocol_mismatch
from ganlab.compare.page import build_page, compare
from ganlab.compare.recipe_diff import NO_KEY, NO_SECTION, recipe_differences
from ganlab.compare.run_set import display_names, expand
from ganlab.loading.manager import Plugins, load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe

EVALUATORS = [
    {"name": "loss-curves"},
    {"name": "d-distributions", "num_images": 16},
    {"name": "samples"},
    {"name": "training-health", "num_images": 8},
    {"name": "fake-metric"},
]


@dataclasses.dataclass
class NoConfig:
    pass


class FakeFid(Evaluator):
    """Stands in for a metric plugin: logs a score per epoch with its protocol, as a FID evaluator would."""

    def on_epoch_end(self, run, epoch):
        run.log_evaluation("fid", 100.0 / epoch, num_fake=16, feature_extractor="inception-v3", higher_is_better=False)


class Trip(Evaluator):
    def on_epoch_end(self, run, epoch):
        raise RuntimeError("disk on fire")


class TestPlugins:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "fake-metric", lambda config, context: FakeFid(), NoConfig)
        registry.add("evaluator", "trip", lambda config, context: Trip(), NoConfig)


@pytest.fixture(scope="module")
def test_plugins() -> Plugins:
    return load_plugins([("compare-test", TestPlugins())], entry_points=False)


def train(folder: Path, plugins: Plugins, name: str, **changes) -> RunDir:
    """A tiny run (16x16, 2 epochs of 4 steps) with every built-in evaluator and a FID stand-in."""
    path = folder / f"{name}.toml"
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": EVALUATORS, **changes})), "utf-8")
    return run_recipe(load_recipe(path, plugins.registry), plugins, folder / "runs", name, progress=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, test_plugins) -> list[RunDir]:
    """Two finished runs that differ only in their loss."""
    folder = tmp_path_factory.mktemp("sweep")
    return [
        train(folder, test_plugins, "bce"),
        train(folder, test_plugins, "minimax", loss={"name": "bce-minimax", "real_label": 0.9}),
    ]


@pytest.fixture(scope="module")
def failed(tmp_path_factory, test_plugins) -> RunDir:
    folder = tmp_path_factory.mktemp("failed")
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(folder, test_plugins, "tripped", evaluators=EVALUATORS + [{"name": "trip"}])
    return RunDir.open(next((folder / "runs").iterdir()))


@pytest.fixture(scope="module")
def page_path(sweep, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("page") / "compare.html"
    from click.testing import CliRunner

    from ganlab.cli import main as cli

    result = CliRunner().invoke(cli.main, ["compare", *map(str, (run.path for run in sweep)), "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


# -- recipe differences ----------------------------------------------------------------------------------


def test_the_diff_holds_exactly_the_changed_keys(sweep):
    runs = compare(sweep).runs
    differences = recipe_differences([run.recipe for run in runs])
    assert [(d.section, d.key, d.values) for d in differences] == [("loss", "name", ("bce", "bce-minimax"))]


def test_the_page_lists_only_the_changed_keys(page_path):
    page = page_path.read_text("utf-8")
    recipe = page[page.index('id="recipe-differences"') : page.index('id="training-curves"')]
    assert "Only the 1 settings whose values differ" in recipe
    assert "<td>name</td><td>bce</td><td>bce-minimax</td>" in recipe
    assert "real_label" not in recipe and "lr" not in recipe


def test_keys_in_one_run_only_are_shown_as_absent():
    a = {"loss": {"name": "bce", "real_label": 0.9}, "evaluators": [{"name": "samples"}]}
    b = {"loss": {"name": "hinge"}, "evaluators": [{"name": "samples"}, {"name": "loss-curves", "smoothing": 5}]}
    differences = [(d.section, d.key, d.values) for d in recipe_differences([a, b])]
    assert differences == [
        ("loss", "name", ("bce", "hinge")),
        ("loss", "real_label", (0.9, NO_KEY)),
        ("evaluators[loss-curves]", "name", (NO_SECTION, "loss-curves")),
        ("evaluators[loss-curves]", "smoothing", (NO_SECTION, 5)),
    ]


def test_equal_numbers_written_differently_are_no_difference_but_true_is_not_one():
    assert recipe_differences([{"optimizer": {"lr": 2e-4}}, {"optimizer": {"lr": 0.0002}}]) == []
    assert len(recipe_differences([{"train": {"compile": True}}, {"train": {"compile": 1}}])) == 1


# -- figures ---------------------------------------------------------------------------------------------


def test_each_curve_has_one_line_per_run_in_the_run_colour(sweep, test_plugins, monkeypatch):
    drawn = {}
    original = compare_sections.figure_image

    def record(fig, alt):
        drawn[alt] = [[line.get_color() for line in ax.lines] for ax in fig.axes if ax.get_visible()]
        drawn[alt + " legend"] = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
        return original(fig, alt)

    monkeypatch.setattr(compare_sections, "figure_image", record)
    comparison = compare(sweep)
    build_page(comparison, test_plugins)
    colors = [run.color for run in comparison.runs]
    names = [run.name for run in comparison.runs]
    curves = "loss D, loss G, D(x), D(G(z)), lr_g, lr_d of every run over epochs"
    assert drawn[curves] == [colors] * 6
    assert drawn[curves + " legend"] == names
    assert drawn["evaluation metrics of every run over epochs"] == [colors]
    assert len(set(colors)) == 2


def test_the_page_is_self_contained(page_path):
    parts = parse(page_path.read_text("utf-8"))
    assert parts.titles == [
        "Overview",
        "Seed groups",
        "Recipe differences",
        "Training curves",
        "Metrics",
        "D(x) and D(G(z))",
        "Final samples",
    ]
    assert not [tag for tag, _ in parts.tags if tag in ("script", "link", "iframe", "object")]
    sources = [attrs["src"] for tag, attrs in parts.tags if tag == "img"]
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(attrs["href"].startswith("#") for tag, attrs in parts.tags if tag == "a")


def test_final_samples_share_the_first_runs_fixed_noise(page_path, sweep):
    page = page_path.read_text("utf-8")
    assert f"{sweep[0].name}: checkpoint epoch_0002.pt (epoch 2), latent size 8, its own fixed noise" in page
    assert (
        f"{sweep[1].name}: checkpoint epoch_0002.pt (epoch 2), latent size 8, the fixed noise of "
        f"{sweep[0].name}" in page
    )


def test_final_samples_are_grouped_by_latent_size_each_group_sharing_its_first_runs_noise(test_plugins, tmp_path):
    a, b, c = (
        train(
            tmp_path,
            test_plugins,
            name,
            evaluators=[],
            train={"epochs": 1},
            generator={"name": "dcgan", "latent_dim": latent, "features": 4},
        )
        for name, latent in (("a", 8), ("b", 16), ("c", 8))
    )
    page = build_page(compare([a, b, c]), test_plugins)
    samples = page[page.index('id="final-samples"') :]
    expected_in_order = [
        "shown in groups; compare them position by position only within a group",
        f"<h3>Latent size 8: {a.name}, {c.name} (the same latent vectors)</h3>",
        f"{a.name}: checkpoint epoch_0001.pt (epoch 1), latent size 8, its own fixed noise",
        f"{c.name}: checkpoint epoch_0001.pt (epoch 1), latent size 8, the fixed noise of {a.name}",
        f"<h3>Latent size 16: {b.name} only (no other run shares its inputs)</h3>",
        f"{b.name}: checkpoint epoch_0001.pt (epoch 1), latent size 16, its own fixed noise",
    ]
    positions = [samples.find(text) for text in expected_in_order]
    assert -1 not in positions and positions == sorted(positions), positions
    assert samples.count("<img") == 3


def test_runs_of_one_latent_size_are_one_ungrouped_row(page_path):
    samples = page_path.read_text("utf-8").split('id="final-samples"')[1]
    assert "<h3>" not in samples and "shown in groups" not in samples


def test_the_page_renders_in_a_real_browser_with_every_image_loaded(page_path, chromium_path, tmp_path):
    with Chromium(chromium_path, tmp_path / "profile") as browser:
        browser.load(page_path)
        images = browser.images()
    assert len(images) == 5
    assert all(image["naturalWidth"] > 0 and image["naturalHeight"] > 0 for image in images), images


# -- the terminal table ----------------------------------------------------------------------------------


def test_the_terminal_shows_one_column_per_run_and_the_shared_metric(page_path, sweep, run_cli, tmp_path):
    result = run_cli("compare", *(run.path for run in sweep), "-o", tmp_path / "c.html")
    header, *rows = result.stdout.splitlines()
    assert header.split() == [run.name for run in sweep]
    labels = [row.split("  ")[0] for row in rows[: rows.index("")]]  # the seed-group statement follows
    assert labels == [
        "status",
        "steps",
        "epochs",
        "duration",
        "images/s",
        "loss D, last epoch",
        "loss G, last epoch",
        "D(x), last epoch",
        "D(G(z)), last epoch",
        "D(x), D(G(z)) are",
        "fid, final",
        "fid, best",
        "health",
    ]
    assert rows[labels.index("D(x), D(G(z)) are")].split()[-4:] == ["probability", "'real'"] * 2
    assert rows[labels.index("fid, final")].split()[2:] == ["50", "(step", "8)", "50", "(step", "8)"]
    assert rows[labels.index("fid, best")].split()[2:] == ["50", "(step", "8)", "50", "(step", "8)"]
    assert result.stdout.splitlines()[-1] == str(tmp_path / "c.html")


# -- protocols -------------------------------------------------------------------------------------------


def fid(value, step, **protocol):
    return {"metric": "fid", "value": value, "step": step, "epoch": step // 4, "time": 1.0, **protocol}


def test_metrics_measured_the_same_way_are_comparable():
    same = [fid(50.0, 8, num_fake=16, feature_extractor="inception-v3")]
    assert protocol_mismatch("fid", [same, same]) is None


def test_any_differing_protocol_field_makes_a_metric_not_comparable():
    a = [fid(50.0, 8, num_fake=16, reference={"images": 64})]
    b = [fid(40.0, 8, num_fake=32, reference={"images": 64})]
    mismatch = protocol_mismatch("fid", [a, b])
    assert mismatch.fields == {"num_fake": ("16", "32")}
    assert mismatch.describe(["a", "b"]) == "num_fake: a 16, b 32"


def test_a_protocol_field_recorded_by_one_run_only_is_a_difference():
    mismatch = protocol_mismatch("fid", [[fid(50.0, 8)], [fid(50.0, 8, network_sha256="ab12")]])
    assert mismatch.fields == {"network_sha256": ("", "ab12")}


def test_the_page_says_where_metric_protocols_differ(sweep, test_plugins, tmp_path):
    copies = [Path(shutil.copytree(run.path, tmp_path / name)) for run, name in zip(sweep, ("a", "b"))]
    evaluations = copies[1] / "evaluations.jsonl"
    records = [json.loads(line) for line in evaluations.read_text("utf-8").splitlines()]
    evaluations.write_text("".join(json.dumps({**r, "num_fake": 64}) + "\n" for r in records), "utf-8")
    comparison = compare([RunDir.open(p) for p in copies])
    page = build_page(comparison, test_plugins)
    assert "fid: not comparable" in page
    assert "num_fake: a 16, b 64" in page
    assert comparison.summary.loc["fid, final", "b"] == "50 (step 8) \u2020"
    assert "\u2020 fid is not comparable between these runs: num_fake: a 16, b 64" in comparison.terminal_text()


# -- runs that stopped early, lack evaluators or files --------------------------------------------------------


def test_a_failed_run_and_a_finished_run_compare(failed, sweep, run_cli, tmp_path):
    result = run_cli("compare", failed.path, sweep[0].path, "-o", tmp_path / "c.html")
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n")[1].split() == ["status", "failed", "finished"]
    page = (tmp_path / "c.html").read_text("utf-8")
    assert '<span class="badge bad">failed</span>' in page and "RuntimeError: disk on fire" in page
    assert f"{failed.name}: its own saved grid after epoch 1" in page
    assert "no valid checkpoint" in page


def test_runs_of_different_lengths_and_evaluators_compare_what_exists(sweep, test_plugins, tmp_path):
    short = train(tmp_path, test_plugins, "short", evaluators=[{"name": "samples"}], train={"epochs": 1})
    comparison = compare([short, sweep[0]])
    page = build_page(comparison, test_plugins)
    assert f"{short.name} has no d-distributions measurements" in page
    assert f"{short.name} recorded no fid" in page
    assert comparison.summary.loc["health", short.name] == "not checked"
    assert "fid, final" not in comparison.summary.index  # a metric not every run has is no row


def test_a_number_one_run_logged_beyond_the_losses_gets_a_panel_and_the_others_are_named_as_lacking_it(
    sweep, test_plugins, tmp_path, monkeypatch
):
    augmented = RunDir.open(shutil.copytree(sweep[0].path, tmp_path / "augmented"))
    records = [{**record, "augment_p": record["step"] / 100} for record in augmented.read_metrics()]
    (augmented.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    drawn = {}
    original = compare_sections.figure_image

    def record(fig, alt):
        drawn[alt] = [ax.get_title() for ax in fig.axes if ax.get_visible()]
        return original(fig, alt)

    monkeypatch.setattr(compare_sections, "figure_image", record)
    page = build_page(compare([augmented, sweep[1]]), test_plugins)
    [titles] = [
        titles for alt, titles in drawn.items() if alt.endswith("of every run over epochs") and "evaluation" not in alt
    ]
    assert titles == ["loss D", "loss G", "D(x)", "D(G(z))", "lr_g", "lr_d", "augment_p"]
    assert f"{sweep[1].name} logged no augment_p" in page


def test_a_run_with_only_its_meta_file_still_compares(sweep, test_plugins, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(sweep[0].path / "meta.json", bare / "meta.json")
    page = build_page(compare([RunDir.open(bare), sweep[1]]), test_plugins)
    assert "Missing: no recipe.toml, so its settings cannot be compared." in page
    assert "Missing: no training step was logged" in page
    assert "bare: no samples (no valid checkpoint, and no grid was saved)" in page


# -- naming the runs -------------------------------------------------------------------------------------


def test_a_path_that_is_not_a_run_is_a_clear_error(sweep, run_cli, tmp_path):
    result = run_cli("compare", sweep[0].path, tmp_path / "nowhere")
    assert result.exit_code == 5
    assert "is not a run directory (no such folder)" in result.output
    assert "Traceback" not in result.output


def test_a_folder_without_runs_is_a_clear_error(sweep, run_cli, tmp_path):
    result = run_cli("compare", sweep[0].path, tmp_path)
    assert result.exit_code == 5
    assert "is not a run directory (no meta.json), and no folder in it is one" in result.output


def test_one_run_is_not_enough(sweep, run_cli):
    result = run_cli("compare", sweep[0].path, sweep[0].path)
    assert result.exit_code == 5
    assert "compare needs two or more runs" in result.output


def test_a_parent_folder_and_a_glob_give_every_run_in_them(sweep):
    folder = sweep[0].path.parent
    expected = sorted(run.path for run in sweep)
    assert [run.path for run in expand([folder])] == expected
    (folder / "notes.txt").write_text("not a run", "utf-8")
    assert [run.path for run in expand([str(folder / "*")])] == expected


def test_a_glob_that_matches_no_run_is_a_clear_error(sweep, run_cli, tmp_path):
    result = run_cli("compare", str(tmp_path / "sweep-*"))
    assert result.exit_code == 5
    assert "matches no run directory" in result.output


def test_duplicate_run_names_are_told_apart_by_their_folders(tmp_path):
    runs = []
    for parent in ("lr-high", "lr-low", "lr-low-copy"):
        path = tmp_path / parent / "dcgan-20250101-120000"
        path.mkdir(parents=True)
        (path / "meta.json").write_text("{}", "utf-8")
        runs.append(RunDir.open(path))
    runs.append(RunDir.open(shutil.copytree(runs[0].path, tmp_path / "other" / "lr-high" / "dcgan-20250101-120000")))
    assert display_names(runs) == [
        "lr-high/dcgan-20250101-120000 (1)",
        "lr-low/dcgan-20250101-120000",
        "lr-low-copy/dcgan-20250101-120000",
        "lr-high/dcgan-20250101-120000 (2)",
    ]
