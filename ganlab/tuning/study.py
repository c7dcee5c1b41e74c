"""A study's folder and its records: ``study.json`` (what the study is), ``study.db`` (Optuna's SQLite
storage: every trial, its parameters, the values it reported, its state) and the lock that keeps two
``ganlab tune`` of one study apart.

A study's folder ``runs/<study>/`` holds::

    study.json            what the study is (format below), written before the first trial
    study.db              Optuna's RDB storage (SQLite); follow it from another terminal with
                          optuna-dashboard, or optuna.load_study(study_name=..., storage="sqlite:///...")
    base-recipe.toml      the recipe without its [tune] table: what every trial starts from
    trial-0000/ ...       one ordinary run directory per trial (finished, pruned, failed, ...)
    logs/trial-0000.log   what each trial printed (local launcher)
    recheck/              the re-check: a sweep folder (sweep.json) of the best settings over fresh seeds
    report.html           the study report

``study.json``, format 1 (every key always present)::

    {
      "format": 1,
      "name": "quickstart-tune",                 # the folder's name, and the Optuna study's
      "recipe": "experiments/tune_quickstart.toml",
      "overrides": ["train.epochs=2"],           # the --set overrides every trial shares
      "resolved": {...},                         # the base recipe with them, every default filled in
      "space": {"loss.real_label": {"low": 0.8, "high": 1.0, "log": false}},
      "objective": "swd", "direction": "minimize", "evaluator": "evaluators[0]",
      "pruner": "median", "startup_trials": 5, "sampler_seed": 0,
      "recheck_top": 3, "recheck_seeds": 3,
      "created": "...", "updated": "...",
      "recheck": null, or once done {"folder": "recheck", "trials": [7, 3, 12],   # the trials re-checked
                  "winner": 3, "runner_up": 7, "winner_mean": 58.4, "runner_up_mean": 63.9,
                  "difference": -5.5, "low": -8.1, "high": -2.6,             # winner minus runner-up
                  "verdict": "outside the seed spread", "text": "Re-check winner: ..."},
      "budget": null, or once done {"trials": 12, "pruned": 7, "steps_run": 620, "steps_full": 1536,
                 "saved_share": 0.5964, "seconds": 412.5}   # steps full-length trials would have run
    }

``resolved``, ``space``, ``objective``, ``pruner``, ``startup_trials``, ``sampler_seed`` and the re-check's
sizes are what the study is: the same command with another of them is refused, so no trial is mixed into
a study it does not belong to. The budget (trials, timeout), ``--jobs`` and the launcher may change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..common.atomic import atomic_write_text
from ..common.errors import RunError
from ..common.files import read_checked_json, unusual
from ..rundir.records import INTEGER, OBJECT, TEXT, Check, Shape
from ..rundir.rundir import now_iso

FORMAT = 1
RECORD = "study.json"
DATABASE = "study.db"
LOCK = ".tune.lock"
BASE_RECIPE = "base-recipe.toml"
RECHECK = "recheck"
TRIAL_PREFIX = "trial-"
MAX_RECORD_BYTES = 16 << 20
DEFINING = (
    "space",
    "objective",
    "direction",
    "pruner",
    "startup_trials",
    "sampler_seed",
    "recheck_top",
    "recheck_seeds",
)
"""The keys of study.json that, with the resolved recipe, make a study what it is."""

RECORD_SHAPE = Shape(
    required={
        "format": Check(f"{FORMAT}, the format this ganlab writes", lambda v: type(v) is int and v == FORMAT),
        "name": TEXT,
        "recipe": TEXT,
        "overrides": Check("a list of texts", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
        "resolved": OBJECT,
        "space": OBJECT,
        "objective": TEXT,
        "direction": Check("minimize or maximize", lambda v: v in ("minimize", "maximize")),
        "evaluator": TEXT,
        "pruner": TEXT,
        "startup_trials": INTEGER,
        "sampler_seed": INTEGER,
        "recheck_top": INTEGER,
        "recheck_seeds": INTEGER,
        "created": TEXT,
        "updated": TEXT,
        "recheck": Check("null or an object", lambda v: v is None or isinstance(v, dict)),
        "budget": Check("null or an object", lambda v: v is None or isinstance(v, dict)),
    }
)


def trial_name(number: int) -> str:
    """The run directory of Optuna's trial ``number``: ``trial-0007``."""
    return f"{TRIAL_PREFIX}{number:04d}"


def storage_url(folder: Path) -> str:
    return f"sqlite:///{(Path(folder) / DATABASE).resolve()}"


def record_problem(record: Any) -> str | None:
    """What makes ``record`` no study record of format :data:`FORMAT`, as ``it has no 'objective'``."""
    problem = RECORD_SHAPE.problem(record)
    return None if problem is None else f"it {problem}"


def read_record(folder: Path) -> dict[str, Any] | None:
    """The study.json of ``folder``, every field checked; None if there is none. One that cannot be read, or
    is not what ``ganlab tune`` writes, is a RunError naming it."""
    path = Path(folder) / RECORD
    if unusual(path) is None and not path.exists():
        return None
    record, problem = read_checked_json(path, MAX_RECORD_BYTES, record_problem)
    if problem is not None:
        raise RunError(
            f"{str(path)!r}: {problem}; it is no study record as `ganlab tune` writes them (format {FORMAT})"
        )
    return record


def write_record(folder: Path, record: dict[str, Any]) -> None:
    record["updated"] = now_iso()
    try:
        atomic_write_text(Path(folder) / RECORD, json.dumps(record, indent=2) + "\n")
    except OSError as e:
        raise RunError(f"cannot write the study record in {str(folder)!r}: {e.strerror or e}") from None
