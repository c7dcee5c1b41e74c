"""ganlab sweep: a recipe over a grid of settings and seeds, each run an ordinary run directory named by
its settings, beside a sweep.json that says where each stands; a re-run skips what finished and resumes
what did not; --jobs 2 trains what --jobs 1 trains; submitit runs the same runs as jobs. The same sweep
may be a [sweep] table in the recipe, checked as strictly as the options, which override it; a recipe with
the table is no run's recipe, and its runs' recipes have no table."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganlab.cli.main import main
from ganlab.loading.manager import load_plugins_or_warn
from ganlab.sweeps.plan import expand, parse_grid
from ganlab.sweeps.sweep import SweepRequest, plan_sweep

TINY = """\
[experiment]
name = "tiny"
seed = 0
device = "cpu"

[data]
name = "synthetic-faces"
image_size = 16
num_images = 64

[generator]
name = "dcgan"
latent_dim = 8
features = 8

[discriminator]
name = "dcgan"
features = 8

[train]
epochs = {epochs}
batch_size = 16
max_steps = {max_steps}

[[evaluators]]
name = "loss-curves"
"""
GRID = ["--grid", "loss.real_label=[0.9, 1.0]"]


def write_recipe(folder: Path, epochs: int = 2, max_steps: int = 6) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY.format(epochs=epochs, max_steps=max_steps), "utf-8")
    return path


def run_cli_main(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sweep(*args: str):
    return run_cli_main("sweep", *args)


def manifest(folder: Path) -> dict:
    return json.loads((folder / "sweep.json").read_text("utf-8"))


def losses(run: Path) -> list[tuple[float, float]]:
    return [(r["loss_d"], r["loss_g"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    """Two label-smoothing settings, two runs at a time, one thread each."""
    root = tmp_path_factory.mktemp("sweep")
    recipe = write_recipe(root)
    result = sweep(str(recipe), *GRID, "--out", str(root / "runs"), "--jobs", "2", "--threads", "1")
    assert result.exit_code == 0, result.output
    return root / "runs" / "tiny-sweep"


def test_the_grid_and_seeds_expand_to_every_combination_named_by_its_settings_and_seed():
    axes = parse_grid(["loss.real_label=[0.9, 1.0]", "optimizer.discriminator.lr=[1e-4, 2e-4]"], "r.toml")
    runs = expand(axes, [0, 1, 2])
    assert len(runs) == 12
    assert runs[0].name == "real_label-0.9_lr-0.0001_seed-0"
    assert runs[0].overrides == ["loss.real_label=0.9", "optimizer.discriminator.lr=0.0001", "experiment.seed=0"]
    assert len({run.name for run in runs}) == 12
    assert [run.name for run in expand(axes, [0, 1, 2])] == [run.name for run in runs]  # stable


def test_keys_that_end_alike_are_told_apart_and_awkward_values_still_get_unique_names():
    axes = parse_grid(
        [
            "optimizer.generator.lr=[1e-4]",
            "optimizer.discriminator.lr=[1e-4]",
            "optimizer.generator.betas=[[0.5, 0.999], [0.0, 0.9]]",
        ],
        "r.toml",
    )
    names = [run.name for run in expand(axes, [0])]
    assert names[0].startswith("generator.lr-0.0001_discriminator.lr-0.0001_betas-")
    assert len(set(names)) == 2 and all("/" not in n and " " not in n and len(n) <= 80 for n in names)


def test_each_run_is_an_ordinary_run_directory_listed_in_the_manifest(finished_sweep):
    recorded = manifest(finished_sweep)
    assert recorded["grid"] == {"loss.real_label": [0.9, 1.0]} and recorded["seeds"] == [0]
    assert recorded["resolved"]["train"]["max_steps"] == 6
    by_name = {run["name"]: run for run in recorded["runs"]}
    assert set(by_name) == {"real_label-0.9_seed-0", "real_label-1.0_seed-0"}
    entry = by_name["real_label-0.9_seed-0"]
    assert entry == {
        "name": "real_label-0.9_seed-0",
        "settings": {"loss.real_label": 0.9},
        "seed": 0,
        "overrides": ["loss.real_label=0.9", "experiment.seed=0"],
        "status": "finished",
    }
    meta = json.loads((finished_sweep / entry["name"] / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["seed"] == 0 and meta["overrides"] == entry["overrides"]
    assert (finished_sweep / "logs" / f"{entry['name']}.log").is_file()


def test_running_the_same_sweep_again_leaves_finished_runs_untouched(finished_sweep):
    before = {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for p in finished_sweep.rglob("*")
        if p.is_file() and p.name != "sweep.json"
    }
    result = sweep(
        str(finished_sweep.parents[1] / "tiny.toml"), *GRID, "--out", str(finished_sweep.parent), "--jobs", "2"
    )
    assert result.exit_code == 0, result.output
    assert "2 left as they are, 0 to resume, 0 to start" in result.output
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before}
    assert after == before


def test_two_jobs_at_a_time_train_exactly_what_one_at_a_time_trains(finished_sweep, tmp_path):
    recipe = finished_sweep.parents[1] / "tiny.toml"
    result = sweep(str(recipe), *GRID, "--out", str(tmp_path), "--jobs", "1", "--threads", "1")
    assert result.exit_code == 0, result.output
    for entry in manifest(finished_sweep)["runs"]:
        assert losses(tmp_path / "tiny-sweep" / entry["name"]) == losses(finished_sweep / entry["name"])
    assert losses(finished_sweep / "real_label-0.9_seed-0") != losses(finished_sweep / "real_label-1.0_seed-0")


def test_another_grid_under_the_same_name_is_refused_and_nothing_changes(finished_sweep):
    before = (finished_sweep / "sweep.json").read_bytes()
    result = sweep(
        str(finished_sweep.parents[1] / "tiny.toml"),
        "--grid",
        "loss.real_label=[0.9, 0.8]",
        "--out",
        str(finished_sweep.parent),
    )
    assert result.exit_code == 5
    assert "was made with another recipe, grid or seeds" in result.output
    assert "grid: was loss.real_label=[0.9, 1.0], now loss.real_label=[0.9, 0.8]" in result.output
    assert (finished_sweep / "sweep.json").read_bytes() == before


def test_a_changed_recipe_setting_under_the_same_name_is_refused_by_key(finished_sweep):
    result = sweep(
        str(finished_sweep.parents[1] / "tiny.toml"),
        *GRID,
        "--set",
        "train.batch_size=8",
        "--out",
        str(finished_sweep.parent),
    )
    assert result.exit_code == 5
    assert "recipe setting train.batch_size: was 16, now 8" in result.output


def test_a_bad_grid_key_or_value_is_refused_before_anything_is_made(tmp_path):
    recipe = write_recipe(tmp_path)
    result = sweep(
        str(recipe),
        "--grid",
        "loss.real_lable=[0.9, 1.0]",
        "--grid",
        'train.batch_size=[16, "x"]',
        "--out",
        str(tmp_path / "runs"),
    )
    assert result.exit_code == 2
    assert "--grid loss.real_lable=0.9: loss.real_lable: unknown key (did you mean 'real_label'?)" in result.output
    assert '--grid train.batch_size="x": train.batch_size: expected int' in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "grid, problem",
    [
        ("loss.real_label=0.9", "expected a non-empty TOML array"),
        ("experiment.seed=[1, 2]", "the seed is not a grid key; give --seeds N"),
        ("loss.real_label=[0.9, 0.9]", "a value is listed twice"),
    ],
)
def test_a_grid_that_is_no_list_of_distinct_values_is_refused(tmp_path, grid, problem):
    result = sweep(str(write_recipe(tmp_path)), "--grid", grid, "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and problem in result.output


def test_a_combination_the_recipe_cannot_train_stops_the_sweep_before_any_run(tmp_path):
    recipe = write_recipe(tmp_path)
    result = sweep(str(recipe), "--grid", "train.batch_size=[16, 128]", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    assert "run batch_size-128_seed-0" in result.output
    assert not list((tmp_path / "runs").rglob("meta.json"))


def test_a_stopped_sweep_marks_its_runs_interrupted_and_the_same_command_resumes_them(tmp_path):
    recipe = write_recipe(tmp_path, epochs=100, max_steps=100)
    command = [
        sys.executable,
        "-m",
        "ganlab",
        "sweep",
        str(recipe),
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(tmp_path / "runs"),
    ]
    folder = tmp_path / "runs" / "tiny-sweep"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not all((folder / f"seed-{s}" / "checkpoints" / "manifest.json").exists() for s in (0, 1)):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()[0]
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 143, output
    assert "runs interrupted; run the same command again to resume them" in output
    assert {run["status"] for run in manifest(folder)["runs"]} == {"interrupted"}

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 left as they are, 2 to resume, 0 to start" in result.stdout
    for run in manifest(folder)["runs"]:
        assert run["status"] == "finished"
        steps = [record["step"] for record in map(json.loads, (folder / run["name"] / "metrics.jsonl").open())]
        assert steps == list(range(1, 101))
        assert json.loads((folder / run["name"] / "meta.json").read_text())["resumed"]


def test_submitit_runs_each_run_as_a_job_with_the_same_results(finished_sweep, tmp_path):
    pytest.importorskip("submitit")
    result = sweep(
        str(finished_sweep.parents[1] / "tiny.toml"),
        "--grid",
        "loss.real_label=[1.0]",
        "--out",
        str(tmp_path),
        "--launcher",
        "submitit",
        "--submitit-cluster",
        "local",
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tiny-sweep"
    assert [run["status"] for run in manifest(folder)["runs"]] == ["finished"]
    assert manifest(folder)["launcher"] == "submitit"
    ours = [loss for pair in losses(folder / "real_label-1.0_seed-0") for loss in pair]
    local = [loss for pair in losses(finished_sweep / "real_label-1.0_seed-0") for loss in pair]
    assert ours == pytest.approx(local, rel=1e-5)  # its own thread count: equal up to float rounding


def test_without_submitit_the_launcher_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    result = sweep(str(write_recipe(tmp_path)), "--out", str(tmp_path / "runs"), "--launcher", "submitit")
    assert result.exit_code == 1
    assert "pip install submitit" in result.output


TABLE = """
[sweep]
jobs = 2
threads = 1

[sweep.grid]
"loss.real_label" = [0.9, 1.0]
"""


def write_sweep_recipe(folder: Path, table: str = TABLE) -> Path:
    """tiny.toml's recipe with a [sweep] table."""
    path = folder / "tiny_sweep.toml"
    path.write_text(TINY.format(epochs=2, max_steps=6) + table, "utf-8")
    return path


def test_a_sweep_table_is_the_same_sweep_as_the_options_it_stands_for(finished_sweep):
    recipe = write_sweep_recipe(finished_sweep.parents[1])
    before = manifest(finished_sweep)
    result = sweep(str(recipe), "--out", str(finished_sweep.parent))
    assert result.exit_code == 0, result.output
    assert "sweep tiny-sweep: 2 runs; 2 left as they are, 0 to resume, 0 to start" in result.output
    after = manifest(finished_sweep)
    recorded = ("resolved", "grid", "seeds", "runs")
    assert [after[key] for key in recorded] == [before[key] for key in recorded]


def test_the_runs_of_a_sweep_table_are_ordinary_runs_whose_recipes_have_no_table(finished_sweep, tmp_path):
    result = sweep(str(write_sweep_recipe(tmp_path)), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "tiny-sweep"
    assert [run["status"] for run in manifest(folder)["runs"]] == ["finished", "finished"]
    for entry in manifest(folder)["runs"]:
        run = folder / entry["name"]
        assert losses(run) == losses(finished_sweep / entry["name"])  # what the options trained, bit for bit
        assert "sweep" not in tomllib.loads((run / "recipe.toml").read_text("utf-8"))
        assert json.loads((run / "meta.json").read_text())["overrides"] == entry["overrides"]
    assert run_cli_main("validate", str(run / "recipe.toml")).exit_code == 0


def test_options_override_the_table_and_a_grid_option_replaces_that_key_only(tmp_path):
    table = """
[sweep]
seeds = 3
name = "from-table"
jobs = 2

[sweep.grid]
"loss.real_label" = [0.9, 1.0]
"train.batch_size" = [8, 16]
"""
    plugins = load_plugins_or_warn()
    request = SweepRequest(
        write_sweep_recipe(tmp_path, table),
        grid=("loss.real_label=[0.8]",),
        options={"seeds": 1, "name": "from-options"},
    )
    plan = plan_sweep(request, plugins)
    assert [(axis.key, axis.values) for axis in plan.axes] == [
        ("train.batch_size", (8, 16)),
        ("loss.real_label", (0.8,)),
    ]
    assert (plan.settings.seeds, plan.settings.name, plan.settings.jobs) == (1, "from-options", 2)
    assert [run.name for run in plan.runs] == [
        "batch_size-8_real_label-0.8_seed-0",
        "batch_size-16_real_label-0.8_seed-0",
    ]
    assert plan_sweep(SweepRequest(request.recipe), plugins).settings.seeds == 3


def test_a_bad_sweep_table_is_refused_naming_every_key_before_anything_is_made(tmp_path):
    recipe = write_sweep_recipe(
        tmp_path,
        """
[sweep]
seed = 3
jobs = "two"
launcher = "slurm"

[sweep.grid]
"train.batch_size" = 16
"experiment.seed" = [1, 2]
loss.real_label = [0.9, 1.0]
""",
    )
    result = sweep(str(recipe), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    for problem in (
        "sweep.seed: unknown key (did you mean 'seeds'?)",
        "sweep.jobs: expected int, got a string ('two')",
        "sweep.launcher: 'slurm' is not one of 'local', 'submitit'",
        'sweep.grid."train.batch_size": expected a non-empty TOML array of values',
        'sweep.grid."experiment.seed": the seed is not a grid key',
        'sweep.grid."loss": a table, not an array of values: quote a dotted grid key ("loss.real_label" = [...])',
    ):
        assert f"{recipe}: {problem}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_a_grid_value_of_the_table_the_recipe_does_not_take_is_named_by_its_table_key(tmp_path):
    recipe = write_sweep_recipe(tmp_path, '[sweep.grid]\n"loss.real_lable" = [0.9]\n')
    result = sweep(str(recipe), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert (
        "sweep.grid.\"loss.real_lable\" = 0.9: loss.real_lable: unknown key (did you mean 'real_label'?)"
        in result.output
    )


def test_a_table_that_asks_submitit_for_jobs_is_refused_as_the_options_are(tmp_path):
    recipe = write_sweep_recipe(tmp_path, '[sweep]\nlauncher = "submitit"\n')
    result = sweep(str(recipe), "--jobs", "2", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert "sweep: jobs and threads (--jobs, --threads) are for the local launcher" in result.output


def test_run_refuses_a_sweep_recipe_and_says_to_sweep_it(tmp_path):
    recipe = write_sweep_recipe(tmp_path)
    result = run_cli_main("run", str(recipe), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert (
        f"sweep: this file is a sweep of runs, not one run's recipe: run it with `ganlab sweep {recipe}`"
        in result.output
    )
    assert not (tmp_path / "runs").exists()


def test_validate_checks_a_sweep_recipe_and_says_how_many_runs_it_makes(tmp_path):
    recipe = write_sweep_recipe(tmp_path, TABLE.replace("jobs = 2", "seeds = 3"))
    result = run_cli_main("validate", str(recipe))
    assert result.exit_code == 0, result.output
    assert "# sweep: loss.real_label (2) x 3 seeds" in result.output
    assert result.output.rstrip().endswith(f"{recipe}: ok, a sweep of 6 runs: run it with `ganlab sweep {recipe}`")
    assert "[sweep]" not in result.output  # what it prints is the base recipe, which its runs start from

    broken = write_sweep_recipe(tmp_path, "[sweep]\njobz = 2\n")
    result = run_cli_main("validate", str(broken))
    assert result.exit_code == 2 and "sweep.jobz: unknown key (did you mean 'jobs'?)" in result.output
