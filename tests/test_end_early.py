"""A component may end a run before its last step with a status of its own (``RunView.end_early``): an early
stopper, a pruner. The run stops at the next step, writes a checkpoint, records the status and the reason,
is reported, and resumes like any run; the command succeeds. The engine's own statuses are not for
components."""

from __future__ import annotations

import dataclasses
import json

import pytest

import ganlab
from ganlab.testing import TINY_RECIPE


class StopAtStep(ganlab.Logger):
    """Ends the run as step ``at`` is logged: once, so a resumed run trains on."""

    def __init__(self, at: int, status: str):
        self.at, self.status, self.run = at, status, None

    def start(self, run):
        self.run = run

    def log_steps(self, records):
        if any(record["step"] == self.at for record in records):
            self.run.end_early(self.status, f"step {self.at} was enough")


@dataclasses.dataclass
class StopConfig:
    at: int = ganlab.param(3, "the step to stop at")
    status: str = ganlab.param("early-stopped", "the status to end with")


class StopPlugin:
    @ganlab.hookimpl
    def ganlab_register(self, registry):
        registry.add("logger", "stop-at", lambda config, context: StopAtStep(config.at, config.status), StopConfig)


def recipe(**logger):
    return {
        **TINY_RECIPE,
        "train": {**TINY_RECIPE["train"], "log_every": 1},
        "loggers": [{"name": "stop-at", **logger}],
    }


def test_a_logger_ends_the_run_early_with_its_status_and_a_checkpoint(tmp_path, register_plugin):
    register_plugin(StopPlugin(), "stop")
    run = ganlab.run(recipe(), out=tmp_path / "runs", progress=False)
    meta = json.loads((run.path / "meta.json").read_text("utf-8"))
    assert (meta["status"], meta["stop_reason"], meta["steps"], meta["total_steps"]) == (
        "early-stopped",
        "step 3 was enough",
        3,
        8,
    )
    assert (run.path / "checkpoints" / "step_00000003.pt").is_file()
    assert "A component ended the run early: step 3 was enough" in (run.path / "report.html").read_text("utf-8")


def test_a_run_ended_early_resumes_to_its_end(tmp_path, register_plugin):
    register_plugin(StopPlugin(), "stop")
    run = ganlab.run(recipe(), out=tmp_path / "runs", progress=False)
    resumed = ganlab.resume(run.path, progress=False)
    assert resumed.status == "finished" and resumed.meta["stop_reason"] is None
    assert resumed.metrics["step"].tolist() == list(range(1, 9))


@pytest.mark.parametrize("status", ["finished", "interrupted", "Pruned", "two words", ""])
def test_a_status_the_engine_owns_or_of_another_form_is_the_components_error(tmp_path, register_plugin, capsys, status):
    register_plugin(StopPlugin(), "stop")
    run = ganlab.run(recipe(status=status), out=tmp_path / "runs", progress=False)
    assert run.status == "finished"  # the logger that asked wrongly is warned about and left out; the run goes on
    assert f"failed in log_steps: ValueError: end_early: status {status!r} is not a lowercase word" in (
        capsys.readouterr().err
    )


def test_a_sweep_counts_a_run_ended_early_as_complete_and_leaves_it_as_it_is():
    from ganlab.sweeps.sweep import complete, left_as_it_is

    assert complete("early-stopped") and left_as_it_is("pruned") and complete("finished")
    assert not any(complete(status) for status in ("failed", "interrupted", "running", "diverged", "pending"))
    assert not any(left_as_it_is(status) for status in ("failed", "interrupted", "running", "pending"))
