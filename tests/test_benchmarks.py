"""The benchmark scripts behind BENCHMARKS.md still run against today's ganlab, at tiny sizes.

They reach into the engine (a training step, the checkpoint store, the fid evaluator), so an API change can
silently break the commands that BENCHMARKS.md says reproduce its figures. No time is checked here, only
that each script runs and measures what it says it measures. The two scripts that read the LFW archive
in ../shared/data (data_throughput.py, draft_tolerance.py) are left out: tests never depend on it.
"""

from __future__ import annotations

import functools
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY_RECIPE, merge
from ganlab.common import tomlwrite
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.training.lifecycle import run_recipe

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def benchmark(monkeypatch, capsys, tmp_path):
    """Run ``benchmarks/NAME`` as ``python benchmarks/NAME ARGS...`` in this process; returns its stdout."""
    # the scripts set these themselves; registering them first makes the test put them back
    monkeypatch.setenv("GANLAB_INCEPTION_WEIGHTS", "")
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)

    def run(name: str, *args: str) -> str:
        monkeypatch.setattr(sys, "argv", [name, *args])
        runpy.run_path(str(ROOT / "benchmarks" / name), run_name="__main__")
        return capsys.readouterr().out

    return run


def test_checkpoint_cost_writes_a_full_dcgan64_checkpoint(benchmark):
    out = benchmark("checkpoint_cost.py", "--device", "cpu", "--steps", "1", "--saves", "1")
    assert "checkpoint: 72.7 MiB" in out  # both networks and both Adams of the default recipe
    assert "CelebA epoch (1582 steps)" in out


def test_fid_eval_featurises_the_generated_images_of_every_evaluation(benchmark):
    out = benchmark("fid_eval.py", "--num-samples", "4", "--batch-size", "4", "--repeats", "1")
    first = re.search(r"first: .*\(Inception ([\d.]+) s for 8 images", out)
    cached = re.search(r"cached: .*\(Inception ([\d.]+) s for 4 images", out)
    assert first and cached, out
    assert float(cached.group(1)) > 0, "the cached evaluation reused the first one's generated features"
    summary = json.loads(out[out.index("{") :])
    assert summary["num_samples"] == 4 and summary["fid_formula_s"] > 0


def test_report_overhead_times_every_evaluator_and_the_report(benchmark):
    out = benchmark("report_overhead.py", "--epochs", "1", "--rounds", "1")
    medians = json.loads(out)["medians"]
    for evaluator in ("loss-curves", "d-distributions", "samples", "training-health"):
        assert any(key.startswith(evaluator) for key in medians), (evaluator, sorted(medians))
    assert medians["report_wall_s"] > 0


def test_scale_gpu_epoch_compares_every_variant_with_the_reference_on_any_device(benchmark, monkeypatch):
    # aot_eager: dynamo and AOTAutograd without the C++ compiler that inductor needs on a CPU
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    out = benchmark(
        "scale.py", "gpu-epoch", "--device", "cpu", "--images", "256", "--steps", "1", "--rounds", "1", "--warmup", "1"
    )
    assert "317.7 GFLOP per step" in out
    for variant in (
        "pytorch/examples dcgan (fp32)",
        "ganlab fp32",
        "ganlab bf16",
        "ganlab bf16 + compile + channels-last",
    ):
        assert re.search(rf"^{re.escape(variant)} +[\d.]+ +[\d.]+ +[\d.]+x", out, re.MULTILINE), variant


def test_sampling_stats_scores_every_way_of_drawing_on_a_trained_run(benchmark, tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, {"evaluators": []})), "utf-8")
    plugins = load_plugins(entry_points=False)
    run_dir = run_recipe(load_recipe(recipe, plugins.registry), plugins, tmp_path / "runs", progress=False)
    out = benchmark("sampling_stats.py", str(run_dir.path), "--num-samples", "16", "--seeds", "0")
    rows = re.findall(rf"\| {run_dir.name} \| ([\w -]+) \| ([\d.-]+) \|", out)
    assert [way for way, _ in rows] == ["batch-256", "batch-1", "running", "standing", "real images"], out
    assert all(float(score) > 0 for _, score in rows[:4])


def test_lever_cost_times_every_lever_against_its_plain_step(benchmark):
    out = benchmark("lever_cost.py", "--rounds", "1", "--steps", "1", "--warmup", "1", "--images", "128")
    rows = re.findall(
        r"^\| ([\w ,+-]+) \| ([\d.]+) \| ([\w ,]+) \| ([\d.]+)x \| [\d.]+ \| [\d.]+x \|$", out, re.MULTILINE
    )
    assert [row[0] for row in rows] == [
        "plain",
        "diffaugment",
        "ada",
        "cosine schedules",
        "csv logger",
        "tensorboard logger",
        "plain, D without batch norm",
        "r1 every 16 steps",
        "r1 every step",
        "r1 + r2 every step",
    ], out
    assert all(float(ms) > 0 for _, ms, _, _ in rows)
    assert [float(ratio) for name, _, reference, ratio in rows if name == reference] == [1.0, 1.0]


def test_sweep_seeds_sets_the_settings_difference_against_the_seed_spread(benchmark, tmp_path):
    out = benchmark(
        "sweep_seeds.py", "--epochs", "1", "--images", "64", "--seeds", "2", "--jobs", "2", "--out", str(tmp_path)
    )
    assert re.search(r"wall time, 4 runs: --jobs 2 [\d.]+ s$", out, re.MULTILINE), out
    assert len(re.findall(r"final SWD, loss.real_label=[\d.]+: mean [\d.]+, std [\d.]+ over 2 seeds", out)) == 2
    assert "ganlab compare's statement" in out


@pytest.mark.usefixtures("one_thread")  # the script sets one thread; the fixture puts the count back
def test_rare_attributes_scores_the_metric_alone_and_each_generator_labels_mode(benchmark):
    out = benchmark(
        "rare_attributes.py",
        "--steps",
        "2",
        "--num-images",
        "64",
        "--num-real",
        "32",
        "--num-samples",
        "16",
        "--num-reference",
        "32",
        "--batch-size",
        "16",
        "--glasses",
        "0.25",
    )
    alone = json.loads(out[out.index("{") : out.index("\n")])
    assert set(alone["classifier_recall_per_value"]) == {"glasses", "smile"}
    for mode in ("data", "balanced"):
        line = next(line for line in out.splitlines() if f"generator_labels={mode}:" in line)
        judged = json.loads(line[line.index("{") :])
        assert set(judged["reference_control"]) == {"glasses", "smile"}


def test_inception_speed_times_both_pipelines_against_the_machines_matmul_rate(benchmark):
    out = benchmark("inception_speed.py", "--rounds", "1", "--sizes", "32", "--batch", "2", "--folder-images", "0")
    assert "Inception at 299x299: 11.4" in out  # 5.7 G multiply-adds, two FLOPs each
    row = re.search(r"\| 32px \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \| \d+ \| \d+% \|", out)
    assert row and float(row.group(1)) > 0 and float(row.group(2)) > 0, out


def photo_archive(path: Path, count: int) -> Path:
    """A zip of ``count`` small JPEG 'photos' (smooth random colour blobs, 48x40) laid out as LFW's."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(count):
            low = (rng.random((4, 4, 3)) * 220).astype(np.uint8)
            photo = io.BytesIO()
            Image.fromarray(low).resize((48, 40), Image.Resampling.BICUBIC).save(photo, format="JPEG", quality=95)
            archive.writestr(f"lfw/person_{i % 3}/person_{i % 3}_{i:04d}.jpg", photo.getvalue())
    return path


@pytest.mark.usefixtures("one_thread")  # the script sets its thread count; the fixture puts it back
def test_fid_agreement_ganlab_equals_torch_fidelitys_command_and_skips_missing_peers(benchmark, tmp_path, monkeypatch):
    # CI installs neither peer; hide them here too, so the skip is what is tested wherever they are installed
    monkeypatch.setitem(sys.modules, "cleanfid", None)
    monkeypatch.setitem(sys.modules, "pytorch_fid", None)
    out = benchmark(
        "fid_agreement.py",
        "--lfw",
        str(photo_archive(tmp_path / "photos.zip", 8)),
        "--count",
        "4",
        "--size",
        "32",
        "--out",
        str(tmp_path / "out"),
        "--jpeg-quality",
        "--rows",
        "ganlab",
        "fidelity",
        "cleanfid-legacy",
        "cleanfid-clean",
        "pytorch-fid",
    )
    for peer in ("clean-fid", "pytorch-fid"):
        assert re.search(rf"^{peer} \(.*\): skipped: {peer} is not installed", out, re.MULTILINE), out
    assert len(list((tmp_path / "out" / "png32" / "a").glob("*.png"))) == 4
    fids = {key: row["fid"] for key, row in json.loads((tmp_path / "out" / "results.json").read_text())["rows"].items()}
    assert set(fids) == {"ganlab", "fidelity"}
    assert fids["ganlab"] > 1  # two different sets: a real distance
    assert abs(fids["ganlab"] - fids["fidelity"]) < 1e-4
    assert re.search(
        r"^\| torch-fidelity \| .* \| PNG 32x32 \| [\d.]+ \| (0 \(identical\)|[+-][\d.]+e-\d+) \|", out, re.MULTILINE
    ), out


def test_contention_times_each_thread_choice_beside_busy_processes(benchmark):
    from ganlab.machine.threads import usable_cores

    out = benchmark(
        "contention.py",
        "--rounds",
        "1",
        "--busy",
        "0",
        "1",
        "--arms",
        "threads=1",
        "auto",
        "--steps",
        "1",
        "--budget",
        "0.1",
    )
    rows = {
        (int(m[1]), m[2]): (int(m[3]), m[4])
        for m in re.finditer(r"^\s+(\d)\s+(threads=1|auto)\s+(\d+)\s+[\d.]+\s+([\d.]+)x", out, re.MULTILINE)
    }
    assert rows.keys() == {(0, "threads=1"), (0, "auto"), (1, "threads=1"), (1, "auto")}, out
    assert rows[0, "threads=1"] == (1, "1.00")  # the fair share is one thread alone
    assert rows[1, "auto"][0] == max(1, usable_cores() - 1)  # a core the spinning process holds is left to it


def test_engine_before_after_times_the_real_data_loop_of_both_trees_beside_the_usual_pipeline(benchmark, tmp_path):
    faces = photo_archive(tmp_path / "photos.zip", 12)
    out = benchmark(
        "engine_before_after.py",
        str(ROOT),
        str(ROOT),
        "--measure",
        "real-data",
        "--faces",
        str(faces),
        "--count",
        "8",
        "--configs",
        "16x4",
        "--epochs",
        "3",
        "--rounds",
        "1",
        "--new-set",
        "train.grid_every=2",
        "--work",
        str(tmp_path / "work"),
        "--json",
        str(tmp_path / "figures.json"),
    )
    number = r" \| -?[\d.]+"
    arm = r"[\w/.,=]+(?: [\w/.,=]+)*"
    rows = dict(re.findall(rf"^\| ({arm}){number * 4} \| ([\d.]+)x \| [\d.]+x \|$", out, re.MULTILINE))
    assert list(rows) == ["old", "new", "new, train.grid_every=2", "usual"], out
    assert rows["old"] == "1.00"
    runs = json.loads((tmp_path / "figures.json").read_text())["16x4"]
    assert all(run["step_img_s"] > 0 and run["img_s_with_epochs"] > 0 for arm in runs.values() for run in arm)


def test_engine_before_after_times_start_up_commands_of_both_trees(benchmark, tmp_path):
    faces = photo_archive(tmp_path / "photos.zip", 8)
    out = benchmark(
        "engine_before_after.py",
        str(ROOT),
        str(ROOT),
        "--measure",
        "startup",
        "--faces",
        str(faces),
        "--count",
        "8",
        "--configs",
        "16x4",
        "--commands",
        "help",
        "--rounds",
        "1",
        "--work",
        str(tmp_path / "work"),
    )
    rows = re.findall(r"^\| (ganlab [\w ()-]+) \| ([\d.]+) \| ([\d.]+) \| [\d.]+x \|$", out, re.MULTILINE)
    assert [row[0] for row in rows] == ["ganlab --help"], out
    assert all(float(old) > 0 and float(new) > 0 for _, old, new in rows)


def test_export_check_imports_a_pytorch_examples_netg_and_checks_every_format(benchmark):
    out = benchmark("export_check.py", "--latent", "8", "--features", "4", "--image-size", "16")
    assert "(parameter names: matched in order: main.* -> net.*)" in out
    summary = json.loads(out[out.index("{") :])
    assert summary["torchscript"]["bit_for_bit"] and summary["safetensors"]["bit_for_bit"]
    assert summary["onnx"]["max_abs_diff"] <= 1e-4 and summary["import_s"] > 0
