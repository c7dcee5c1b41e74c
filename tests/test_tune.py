"""ganlab tune: a recipe's [tune] space searched with Optuna, each trial an ordinary run directory beside a
SQLite study; the pruner stops the trials whose objective is worse than the median, and a pruned trial is
a complete run marked pruned; a study stopped by SIGTERM continues with the same command, no trial lost
or repeated; the best settings are re-checked over fresh seeds as a sweep, with a verdict on the
winner's lead; a study report, compare on the study folder, the Python API; and every refusal, before
anything is made.

The objective is a fake one, logged by a tiny evaluator plugin installed for the test (a dist-info folder
on the path, so the trials' own processes find it too): ``badness`` = the trial's ``loss.real_label``, the
same at every epoch, so which trials the median pruner must stop follows from the values alone.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import ganlab
from ganlab.cli.main import main

optuna = pytest.importorskip("optuna")

PLUGIN = '''
import dataclasses, time
from ganlab import Evaluator, component, lower_is_better, param


@dataclasses.dataclass
class FakeConfig:
    every: int = param(1, "epochs between scores", min=1)
    pause: float = param(0.0, "seconds each scoring waits", min=0.0)


class FakeObjective(Evaluator):
    """Logs the run's loss.real_label as ``badness`` every ``every`` epochs and at the end."""

    metrics = (lower_is_better("badness"),)

    def __init__(self, config):
        self.every, self.pause = config.every, config.pause

    def on_epoch_end(self, run, epoch):
        if epoch % self.every == 0:
            self.score(run)

    def on_run_end(self, run, status):
        if status == "finished":
            self.score(run)

    def score(self, run):
        time.sleep(self.pause)
        run.log_evaluation("badness", run.recipe.component("loss").config.real_label)


@component("evaluator", "fake-objective", config=FakeConfig)
def fake_objective(config, context):
    return FakeObjective(config)
'''

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
epochs = 3
batch_size = 16

[[evaluators]]
name = "fake-objective"
every = 1
pause = {pause}
"""

TUNE = """
[tune]
objective = "badness"
trials = {trials}
startup_trials = 2
sampler_seed = 4
recheck_top = 2
recheck_seeds = 2

[tune.space]
"loss.real_label" = {{ low = 0.5, high = 1.0 }}
"""


@pytest.fixture(scope="module")
def fake_objective(tmp_path_factory):
    """The fake-objective evaluator installed as a plugin package of its own, for this process and the
    trials' processes alike."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "fake_objective.py").write_text(PLUGIN, "utf-8")
    info = folder / "fake_objective-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-objective\nVersion: 0.1\n", "utf-8")
    (info / "entry_points.txt").write_text("[ganlab]\nfake_objective = fake_objective\n", "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        root = str(Path(__file__).resolve().parents[1])
        patch.setenv("PYTHONPATH", os.pathsep.join([str(folder), root, os.environ.get("PYTHONPATH", "")]))
        yield folder


def write_study(folder: Path, trials: int = 4, pause: float = 0.0, tune: str = TUNE) -> Path:
    path = folder / "study.toml"
    path.write_text(TINY.format(pause=pause) + tune.format(trials=trials), "utf-8")
    return path


def tune_cli(*args: str):
    return CliRunner().invoke(main, ["tune", *map(str, args)], catch_exceptions=False)


def trials_of(folder: Path) -> list:
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
    return study.get_trials(deepcopy=False)


def meta(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def stopped_and_continued(fake_objective, tmp_path_factory):
    """A study of four trials, one at a time, stopped by SIGTERM while trial 3 trains, then run again with
    the same command to its end: (folder, the stopped command's result, the continuing command's result)."""
    root = tmp_path_factory.mktemp("study")
    recipe = write_study(root, trials=4, pause=0.15)
    command = [sys.executable, "-m", "ganlab", "tune", str(recipe), "--out", str(root / "runs"), "--threads", "1"]
    folder = root / "runs" / "tiny-tune"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (folder / "trial-0003" / "meta.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside trial 3's first epochs (each scoring waits 0.15 s; the pruner spares trial 3)
    process.send_signal(signal.SIGTERM)
    stopped = process.communicate(timeout=120)
    stopped = (process.returncode, stopped[0])
    continued = subprocess.run(command, capture_output=True, text=True, timeout=300)
    return folder, stopped, continued


def test_a_stopped_study_exits_143_with_its_running_trial_checkpointed(stopped_and_continued):
    folder, (code, output), _ = stopped_and_continued
    assert code == 143, output
    assert "run the same command again to continue it" in output


def test_the_same_command_continues_the_study_without_losing_or_repeating_a_trial(stopped_and_continued):
    folder, _, (continued) = stopped_and_continued
    assert continued.returncode == 0, continued.stdout + continued.stderr
    assert "1 to resume" in continued.stdout
    trials = trials_of(folder)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert sorted(p.name for p in folder.glob("trial-*")) == [f"trial-000{n}" for n in range(4)]
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
    resumed = meta(folder / "trial-0003")["resumed"]
    assert len(resumed) == 1 and resumed[0]["step"] > 0 and resumed[0]["checkpoint"]
    assert [meta(folder / f"trial-000{n}").get("resumed") for n in (0, 1, 2)] == [None] * 3


def test_the_median_pruner_stops_exactly_the_trials_worse_than_the_median_of_those_complete(stopped_and_continued):
    folder, _, _ = stopped_and_continued
    complete: list[float] = []
    expected, pruned = [], []
    for trial in trials_of(folder):
        value = trial.params["loss.real_label"]
        expected.append(len(complete) >= 2 and value > statistics.median(complete))
        pruned.append(trial.state == optuna.trial.TrialState.PRUNED)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            complete.append(trial.value)
            assert trial.value == value  # the fake objective's final value
    assert pruned == expected and any(pruned)


def test_a_pruned_trial_is_a_run_marked_pruned_that_trained_fewer_steps(stopped_and_continued):
    folder, _, _ = stopped_and_continued
    for trial in trials_of(folder):
        run = meta(folder / f"trial-{trial.number:04d}")
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert run["status"] == "pruned" and "median pruner" in run["stop_reason"]
            assert run["steps"] < run["total_steps"] == 12
        else:
            assert run["status"] == "finished" and run["steps"] == 12


def test_the_study_records_the_steps_pruning_saved(stopped_and_continued):
    folder, _, _ = stopped_and_continued
    budget = json.loads((folder / "study.json").read_text("utf-8"))["budget"]
    steps = [meta(run)["steps"] for run in sorted(folder.glob("trial-*"))]
    assert budget["steps_run"] == sum(steps) and budget["steps_full"] == 4 * 12
    assert budget["saved_share"] == pytest.approx(1 - sum(steps) / 48, abs=1e-4) and budget["saved_share"] > 0


def test_the_best_settings_are_rechecked_over_fresh_seeds_as_a_sweep(stopped_and_continued):
    folder, _, continued = stopped_and_continued
    manifest = json.loads((folder / "recheck" / "sweep.json").read_text("utf-8"))
    assert manifest["seeds"] == [1, 2]  # the trials ran with seed 0
    best = sorted(
        (t for t in trials_of(folder) if t.value is not None and t.state.name == "COMPLETE"), key=lambda t: t.value
    )
    assert {run["settings"]["loss.real_label"] for run in manifest["runs"]} == {
        t.params["loss.real_label"] for t in best[:2]
    }
    assert [run["status"] for run in manifest["runs"]] == ["finished"] * 4
    assert "Re-check winner: trial-" in continued.stdout
    # every seed logs the same badness for one setting: no spread, so a different value is a real lead
    assert "lead" in continued.stdout and "is OUTSIDE the seed spread" in continued.stdout


def test_the_study_report_has_every_section(stopped_and_continued):
    page = (stopped_and_continued[0] / "report.html").read_text("utf-8")
    for title in (
        "Summary",
        "Optimisation history",
        "Pruned and completed trials",
        "Parameter importances",
        "Objective against each parameter",
        "Re-check over fresh seeds",
        "Trials",
    ):
        assert f"<h2>{title}</h2>" in page
    assert "saved by pruning" in page and "OUTSIDE the seed spread" in page


def test_ganlab_report_rebuilds_the_study_report(stopped_and_continued, tmp_path):
    result = CliRunner().invoke(main, ["report", str(stopped_and_continued[0]), "-o", str(tmp_path / "s.html")])
    assert result.exit_code == 0, result.output
    assert "<h2>Re-check over fresh seeds</h2>" in (tmp_path / "s.html").read_text("utf-8")


def test_compare_on_a_study_folder_compares_its_trials(stopped_and_continued, tmp_path):
    folder = stopped_and_continued[0]
    result = CliRunner().invoke(main, ["compare", str(folder), "-o", str(tmp_path / "c.html")])
    assert result.exit_code == 0, result.output
    assert all(f"trial-000{n}" in result.output for n in range(4))
    grouped = ganlab.compare(folder / "recheck")
    assert set(grouped.groups["group"]) and len(grouped.runs) == 4


def test_the_python_api_returns_the_study_as_dataframes(stopped_and_continued, fake_objective):
    folder = stopped_and_continued[0]
    result = ganlab.tune(folder.parent.parent / "study.toml", out=folder.parent, progress=False)
    assert isinstance(result, ganlab.TuneResult)
    assert list(result.trials["trial"]) == [0, 1, 2, 3]
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}
    assert len(result.recheck.runs) == 4 and "badness" in set(result.recheck.groups["quantity"])
    assert result.direction == "minimize" and "Re-check winner" in result.verdict
    winner = trials_of(folder)[json.loads((folder / "study.json").read_text())["recheck"]["winner"]]
    assert result.best == {"loss.real_label": winner.params["loss.real_label"]}
    assert ganlab.load_study(folder).budget == result.budget


@pytest.fixture(scope="module")
def two_at_a_time(fake_objective, tmp_path_factory):
    """A study of two trials without a pruner, trained at once by two local jobs: (its folder, the result)."""
    root = tmp_path_factory.mktemp("jobs")
    recipe = write_study(root, trials=2)
    return root / "runs" / "tiny-tune", tune_cli(
        recipe, "--jobs", "2", "--threads", "1", "--out", root / "runs", "--pruner", "none"
    )


def test_two_local_jobs_share_the_study(two_at_a_time):
    folder, result = two_at_a_time
    assert result.exit_code == 0, result.output
    trials = trials_of(folder)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    starts = sorted((meta(folder / t.user_attrs["run"])["started"], t.number) for t in trials)
    ends = {t.number: meta(folder / t.user_attrs["run"])["ended"] for t in trials}
    assert starts[1][0] <= ends[starts[0][1]]  # the second started before the first ended: they trained at once
    page = (folder / "report.html").read_text("utf-8")
    assert "Too few complete trials (2) to tell which parameter matters" in page


def test_submitits_local_executor_runs_a_trial_as_a_job(two_at_a_time):
    pytest.importorskip("submitit")
    folder = two_at_a_time[0]
    recipe = folder.parent.parent / "study.toml"
    result = tune_cli(
        recipe, "--trials", "3", "--pruner", "none", "--launcher", "submitit", "--submitit-cluster", "local",
        "--out", folder.parent,
    )  # fmt: skip
    assert [t.state.name for t in trials_of(folder)] == ["COMPLETE"] * 3
    jobs = list((folder / "submitit").glob("*_result.pkl"))
    assert len(jobs) == 1 and meta(folder / "trial-0002")["status"] == "finished"
    best = [f"trial-{t.number:04d}" for t in sorted(trials_of(folder), key=lambda t: t.value)[:2]]
    if set(best) == {"trial-0000", "trial-0001"}:  # the re-check of the best two continues, nothing to run
        assert result.exit_code == 0 and "sweep recheck: 4 runs; 4 left as they are" in result.output
    else:  # the new trial is among the best: the re-check made for the old best is not mixed with the new
        assert result.exit_code == 5, result.output
        assert f"and the best are now {', '.join(best)}: move that folder away" in result.output


def test_a_pruned_trial_resumes_as_any_run(stopped_and_continued, tmp_path):
    folder = stopped_and_continued[0]
    pruned = next(t for t in trials_of(folder) if t.state == optuna.trial.TrialState.PRUNED)
    copy = tmp_path / f"trial-{pruned.number:04d}"
    shutil.copytree(folder / copy.name, copy)
    result = CliRunner().invoke(main, ["run", "--resume", str(copy), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert meta(copy)["status"] == "finished" and meta(copy)["steps"] == 12 and meta(copy)["stop_reason"] is None
    assert trials_of(folder)[pruned.number].state == optuna.trial.TrialState.PRUNED  # the study is left as it was


# -- the search space ----------------------------------------------------------------------------------------


def plan(recipe: Path, *space: str, **options):
    from ganlab.loading.manager import load_plugins_or_warn
    from ganlab.tuning.plan import TuneRequest, plan_study

    return plan_study(TuneRequest(recipe, space, (), Path("runs"), options), load_plugins_or_warn())


def test_each_distribution_is_read_as_its_form_says(fake_objective, tmp_path):
    recipe = write_study(tmp_path)
    study = plan(
        recipe,
        "optimizer.generator.lr={low = 1e-5, high = 1e-3, log = true}",
        "train.d_steps={low = 1, high = 3}",
        'loss.name={choices = ["bce", "bce-minimax"]}',
    )
    found = {d.key: (d.kind, d.to_table()) for d in study.dimensions}
    assert found == {
        "loss.real_label": ("float", {"low": 0.5, "high": 1.0, "log": False}),
        "optimizer.generator.lr": ("float", {"low": 1e-5, "high": 1e-3, "log": True}),
        "train.d_steps": ("int", {"low": 1, "high": 3, "log": False}),
        "loss.name": ("choice", {"choices": ["bce", "bce-minimax"]}),
    }
    assert [type(d.distribution()).__name__ for d in study.dimensions] == [
        "FloatDistribution",
        "FloatDistribution",
        "IntDistribution",
        "CategoricalDistribution",
    ]
    assert study.direction == "minimize" and study.sampler_seed == 4


def test_an_objective_may_be_any_metric_an_evaluator_logs_such_as_one_level_of_swd(fake_objective, tmp_path):
    recipe = write_study(tmp_path, tune=TUNE.replace('"badness"', '"swd_16px"'))
    text = recipe.read_text().replace('name = "fake-objective"', 'name = "swd"')
    recipe.write_text(text.replace("pause = 0.0", "num_samples = 64"))
    study = plan(recipe)
    assert (study.metric.name, study.direction, study.evaluator) == ("swd_16px", "minimize", "evaluators[0]")


def test_a_space_option_replaces_the_tables_entry_of_the_same_setting(fake_objective, tmp_path):
    study = plan(write_study(tmp_path), "loss.real_label={low = 0.8, high = 0.9}")
    assert [d.to_table() for d in study.dimensions] == [{"low": 0.8, "high": 0.9, "log": False}]


REFUSALS = [
    (
        "--space",
        "loss.real_label={low = 1.0, high = 0.5}",
        'tune.space."loss.real_label"',
        "--space loss.real_label: low (1.0) must be below high (0.5)",
    ),
    ("--space", "optimizer.generator.lr={low = 0.0, high = 1e-3, log = true}", "", "log = true needs low above 0"),
    ("--space", "loss.name={choices = []}", "", "choices must be a non-empty array"),
    ("--space", "train.d_steps={low = 1, high = 5.5}", "", "one is an integer and the other not"),
    ("--space", "loss.real_label={low = 0.5, high = 1.0, step = 0.1}", "", "step: not a field of a range"),
    ("--space", "loss.real_label={low = 0.5}", "", "a range needs low and high (missing: high)"),
    ("--space", "loss.real_lable={low = 0.5, high = 1.0}", "", "unknown key (did you mean 'real_label'?)"),
    ("--space", "tran.epochs={low = 1, high = 3}", "", "tran: unknown section"),
    ("--space", 'augment.name={choices = ["none", "no-such-augment"]}', "", "unknown augment 'no-such-augment'"),
    ("--space", "optimizer.generator.lr={low = -1.0, high = 1e-3}", "", "optimizer.generator.lr"),
    ("--space", "experiment.seed={low = 0, high = 9}", "", "the seed is not searched"),
    ("--space", "loss.real_label=0.9", "", "expected an inline table"),
    (
        "--set",
        "loss.real_label=0.9",
        "",
        '--set loss.real_label=0.9: tune.space."loss.real_label" searches the same setting',
    ),
    ("--objective", "fid", "", "tune.objective: no evaluator of the recipe logs 'fid'; its evaluators log: badness"),
    ("--trials", "0", "", "0 is not in the range"),
    ("--timeout", "-5", "", "-5 is not in the range"),
    ("--recheck-top", "1", "", "1 is not in the range 2<=x<=20"),
    ("--recheck-seeds", "1", "", "1 is not in the range 2<=x<=100"),
    ("--recheck-top", "6", "", "recheck_top = 6 re-checks more settings than the study's 4 trials"),
    ("--pruner", "hyperband", "", "'hyperband' is not one of"),
]


@pytest.mark.parametrize(("option", "value", "_", "message"), REFUSALS, ids=[r[3][:40] for r in REFUSALS])
def test_a_refused_study_names_the_problem_and_makes_nothing(fake_objective, tmp_path, option, value, _, message):
    recipe = write_study(tmp_path)
    result = tune_cli(recipe, option, value, "--out", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_an_objective_first_scored_after_the_last_epoch_cannot_be_pruned_on(fake_objective, tmp_path):
    recipe = write_study(tmp_path)
    result = tune_cli(recipe, "--set", "evaluators[0].every=3", "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert (
        f"{recipe}: tune.objective: evaluators[0] (fake-objective) scores 'badness' first at epoch 3" in result.output
    )
    assert 'pruner = "median" would never see a value before a trial ends' in result.output
    assert not (tmp_path / "runs").exists()
    assert plan(recipe, pruner="none").settings.pruner == "none"  # without a pruner the final value is enough


def test_a_study_needs_a_budget_and_an_objective(fake_objective, tmp_path):
    recipe = write_study(tmp_path, tune=TUNE.replace("trials = {trials}\n", "").replace('objective = "badness"\n', ""))
    result = tune_cli(recipe, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert "tune: a study needs a budget: trials = N, timeout = SECONDS, or both" in result.output
    result = tune_cli(recipe, "--trials", "3", "--out", tmp_path / "runs")
    assert "tune: objective: required" in result.output and not (tmp_path / "runs").exists()


def test_unknown_keys_of_the_table_are_refused_naming_the_file(fake_objective, tmp_path):
    recipe = write_study(tmp_path, tune=TUNE.replace("\ntrials =", "\ntrails ="))
    result = tune_cli(recipe, "--out", tmp_path / "runs")
    assert result.exit_code == 2 and f"{recipe}: tune.trails: unknown key (did you mean 'trials'" in result.output


def test_without_optuna_the_command_says_how_to_install_it(fake_objective, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = tune_cli(write_study(tmp_path), "--out", tmp_path / "runs")
    assert result.exit_code == 1
    assert "ganlab tune needs optuna, which is not installed: pip install 'ganlab[tune]'" in result.output
    assert not (tmp_path / "runs").exists()


def test_run_refuses_a_study_file_and_validate_checks_it(fake_objective, tmp_path):
    recipe = write_study(tmp_path)
    ran = CliRunner().invoke(main, ["run", str(recipe), "--out", str(tmp_path / "runs")])
    assert ran.exit_code == 2 and "tune: this file is a hyper-parameter study, not one run's recipe" in ran.output
    checked = CliRunner().invoke(main, ["validate", str(recipe)])
    assert checked.exit_code == 0, checked.output
    assert "# study: loss.real_label (float); objective badness (minimize); 4 trials" in checked.output
    bad = CliRunner().invoke(main, ["validate", str(recipe), "--set", "evaluators[0].every=3"])
    assert bad.exit_code == 2 and "would never see a value" in bad.output


def test_a_study_of_the_same_name_with_another_space_is_refused(stopped_and_continued):
    folder = stopped_and_continued[0]
    recipe = folder.parent.parent / "study.toml"
    result = tune_cli(recipe, "--space", "loss.real_label={low = 0.6, high = 1.0}", "--out", folder.parent)
    assert result.exit_code == 5
    assert (
        "was made with another recipe or search" in result.output and 'space: was {"loss.real_label"' in result.output
    )


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda db: db.write_bytes(b"not sqlite"), "is no study database Optuna can open"),
        (lambda db: db.write_bytes(b""), "holds 0 trial(s), but the study's folder also has trial-0000"),
        (lambda db: db.unlink(), "holds 0 trial(s), but the study's folder also has trial-0000"),
        (
            lambda db: (db.parent / "study.json").write_text(
                (db.parent / "study.json").read_text().replace('"name": "tiny-tune"', '"name": "edited"')
            ),
            "or study.json names another study",
        ),
    ],
    ids=["damaged", "emptied", "deleted", "renamed-in-study-json"],
)
def test_a_study_whose_database_is_damaged_or_lost_is_not_continued(stopped_and_continued, tmp_path, spoil, said):
    folder = tmp_path / "runs" / "tiny-tune"
    shutil.copytree(stopped_and_continued[0], folder)
    spoil(folder / "study.db")
    before = {p.name: (p / "meta.json").read_text() for p in folder.glob("trial-*")}
    result = tune_cli(stopped_and_continued[0].parent.parent / "study.toml", "--out", folder.parent)
    assert result.exit_code == 5 and said in result.output and "study.db" in result.output
    assert {p.name: (p / "meta.json").read_text() for p in folder.glob("trial-*")} == before


def test_a_study_report_without_its_database_says_so_and_makes_none(stopped_and_continued, tmp_path):
    folder = tmp_path / "tiny-tune"
    shutil.copytree(stopped_and_continued[0], folder)
    (folder / "study.db").unlink()
    result = CliRunner().invoke(main, ["report", str(folder), "-o", str(tmp_path / "s.html")])
    assert result.exit_code == 5 and "study.db' does not exist" in result.output
    assert not (folder / "study.db").exists()


def test_a_continued_study_does_not_draw_its_first_trials_settings_again(tmp_path):
    """Each ``ganlab tune`` makes its sampler afresh: seeded as the first, it would ask for the first trials'
    settings again (TPE's first trials are random draws from the seed)."""
    from ganlab.tuning.storage import open_storage, open_study

    record = {"name": "s", "direction": "minimize", "pruner": "none", "startup_trials": 0, "sampler_seed": 4}
    space = {"loss.real_label": optuna.distributions.FloatDistribution(0.5, 1.0)}

    def ask_and_tell(count: int) -> list[float]:
        study = open_study(tmp_path, record, sampling=True, storage=open_storage(tmp_path, create=True))
        asked = [study.ask(space) for _ in range(count)]
        for trial in asked:
            study.tell(trial, 1.0)
        return [trial.params["loss.real_label"] for trial in asked]

    first, continued = ask_and_tell(2), ask_and_tell(2)
    assert not set(first) & set(continued)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert (
        open_study(fresh, record, True, open_storage(fresh, create=True)).ask(space).params["loss.real_label"]
        == first[0]
    )


def test_end_early_refuses_a_status_the_engine_owns():
    from ganlab.training.stopping import early_end

    assert early_end("pruned", "the median").status == "pruned"
    for status in ("finished", "interrupted", "Pruned", "", "two words"):
        with pytest.raises(ValueError, match="end_early: status"):
            early_end(status, "why")


def test_every_built_in_metric_declares_its_direction(plugins):
    from ganlab.evaluators.fidelity import FidEvaluator, PrecisionRecallEvaluator
    from ganlab.evaluators.weightfree import SwdEvaluator

    assert [(m.name, m.higher_is_better) for m in FidEvaluator.metrics] == [("fid", False)]
    assert [(m.name, m.higher_is_better) for m in SwdEvaluator.metrics] == [("swd", False)]
    assert {m.name: m.higher_is_better for m in PrecisionRecallEvaluator.metrics} == {"precision": True, "recall": True}
    assert math.isfinite(len(FidEvaluator.metrics))


def test_a_study_a_ganlab_tune_is_running_is_refused_to_a_second_one(stopped_and_continued):
    folder = stopped_and_continued[0]
    with open(folder / ".tune.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = tune_cli(folder.parent.parent / "study.toml", "--out", folder.parent)
    assert result.exit_code == 5
    assert f"study {str(folder)!r} is being run by another ganlab process" in result.output


def test_a_searched_length_of_training_is_checked_at_both_ends(fake_objective, tmp_path):
    result = tune_cli(write_study(tmp_path), "--space", "train.epochs={low = 1, high = 3}", "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert (
        "--space train.epochs = 1: tune.objective: evaluators[0] (fake-objective) scores 'badness' first at epoch 1"
        in (result.output)
    )
    assert not (tmp_path / "runs").exists()


def test_a_timeout_stops_the_search_asking_for_new_trials(fake_objective, tmp_path):
    from ganlab.tuning.search import Search

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="timed")
    recipe = write_study(tmp_path, tune=TUNE.replace("trials = {trials}\n", "timeout = 60\n"))
    search = Search(plan(recipe), tmp_path, study, storage, print)
    tasks = search.tasks([])
    assert next(tasks).run.name == "trial-0000"
    assert next(tasks).run.name == "trial-0001"  # no trial limit: on while the time lasts
    search.started -= 61  # a minute later
    assert next(tasks, None) is None and len(study.trials) == 2


def test_a_recipe_without_a_tune_table_is_tuned_from_the_options(fake_objective, tmp_path):
    recipe = tmp_path / "plain.toml"
    recipe.write_text(TINY.format(pause=0.0), "utf-8")
    study = plan(recipe, "loss.real_label={low = 0.7, high = 0.9}", objective="badness", trials=3, recheck_top=2)
    assert (study.settings.trials, study.settings.pruner, study.evaluator) == (3, "median", "evaluators[0]")
    assert [d.key for d in study.dimensions] == ["loss.real_label"]
