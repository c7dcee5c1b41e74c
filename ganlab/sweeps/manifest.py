"""``sweep.json``: what a sweep is and where each of its runs stands, in the sweep's folder.

A sweep's folder ``runs/<sweep>/`` holds one ordinary run directory per run, named by
:mod:`ganlab.sweeps.plan`, ``logs/<run>.log`` (what each run printed, local launcher) and ``sweep.json``,
which ``ganlab sweep`` writes atomically before the first run starts and again whenever a run ends.
Format 1 (every key always present)::

    {
      "format": 1,
      "name": "lr-sweep",                      # the folder's name
      "recipe": "experiments/quickstart.toml", # the recipe as given to the first `ganlab sweep`
      "overrides": ["train.epochs=2"],         # the --set overrides every run shares
      "resolved": {...},                       # the recipe with those overrides, every default filled in
      "grid": {"loss.real_label": [0.9, 1.0]}, # grid key -> its values, in the order given
      "seeds": [0, 1, 2],                      # experiment.seed of the runs
      "launcher": "local",                     # local | submitit: how the latest `ganlab sweep` ran them
      "created": "2025-01-01T12:00:00+01:00",
      "updated": "2025-01-01T12:20:00+01:00",
      "runs": [
        {"name": "real_label-0.9_seed-0",       # its run directory: runs/<sweep>/<name>/
         "settings": {"loss.real_label": 0.9}, # its grid values, by grid key
         "seed": 0,
         "overrides": ["loss.real_label=0.9", "experiment.seed=0"],   # its own --set overrides
         "status": "finished"}, ...
      ]
    }

A run's ``status`` is ``pending`` before its directory exists, else the ``status`` of its meta.json
(running, finished, failed, interrupted, diverged) as it was when the manifest was written; meta.json is
the truth when they differ. Runs with the same ``settings`` differ only in their seed: they are one group.
``resolved``, ``grid`` and ``seeds`` are what the sweep is: a later ``ganlab sweep`` under the same name
must give the same three (grid keys compared as the settings they name: ``evaluators[0].every`` is
``evaluators.0.every``), or it is refused.

A manifest is read back through :func:`read_manifest` only, which checks every field as the run
directory's records are checked (:mod:`ganlab.rundir.records`): a file edited by hand, cut short or
written by something else is a RunError naming it and the field, never trusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..common.atomic import atomic_write_text
from ..common.errors import RecipeError, RunError
from ..common.files import read_checked_json, unusual
from ..recipes.recipe import current_sections, dotted_settings
from ..registry.registry import Registry
from ..rundir.records import INTEGER, OBJECT, OBJECTS, TEXT, TEXTS, Check, Shape
from ..rundir.rundir import now_iso
from ..training.resume import recorded_recipe
from .plan import GridAxis, PlannedRun, setting_of

FORMAT = 1
MANIFEST = "sweep.json"
PENDING = "pending"
MAX_MANIFEST_BYTES = 16 << 20
"""The manifest of the largest sweep (:data:`ganlab.sweeps.plan.MAX_RUNS` runs) is a few hundred
kilobytes; a file far larger is none, and is refused before it is read."""

MANIFEST_SHAPE = Shape(
    required={
        "format": Check(f"{FORMAT}, the format this ganlab writes", lambda v: type(v) is int and v == FORMAT),
        "name": TEXT,
        "recipe": TEXT,
        "overrides": TEXTS,
        "resolved": OBJECT,
        "grid": Check(
            "an object of grid keys, each with a non-empty list of values",
            lambda v: isinstance(v, dict) and all(isinstance(x, list) and x for x in v.values()),
        ),
        "seeds": Check("a list of integers", lambda v: isinstance(v, list) and all(INTEGER.accepts(x) for x in v)),
        "launcher": TEXT,
        "created": TEXT,
        "updated": TEXT,
        "runs": OBJECTS,
    }
)
RUN_SHAPE = Shape(required={"name": TEXT, "settings": OBJECT, "seed": INTEGER, "overrides": TEXTS, "status": TEXT})


def new_manifest(
    name: str,
    recipe: str,
    overrides: list[str],
    resolved: dict[str, Any],
    axes: list[GridAxis],
    seeds: list[int],
    launcher: str,
    runs: list[PlannedRun],
) -> dict[str, Any]:
    """The manifest of a sweep no run of which has started."""
    return {
        "format": FORMAT,
        "name": name,
        "recipe": recipe,
        "overrides": list(overrides),
        "resolved": resolved,
        "grid": {axis.key: list(axis.values) for axis in axes},
        "seeds": list(seeds),
        "launcher": launcher,
        "created": now_iso(),
        "updated": now_iso(),
        "runs": [
            {
                "name": run.name,
                "settings": dict(run.settings),
                "seed": run.seed,
                "overrides": run.overrides,
                "status": PENDING,
            }
            for run in runs
        ],
    }


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest in ``folder``, every field checked; None if there is none. One that cannot be read, or
    is not what ``ganlab sweep`` writes, is a RunError naming it and what is wrong."""
    path = Path(folder) / MANIFEST
    if unusual(path) is None and not path.exists():
        return None
    manifest, problem = read_checked_json(path, MAX_MANIFEST_BYTES, manifest_problem)
    if problem is not None:
        raise RunError(
            f"{str(path)!r}: {problem}; it is no sweep manifest as `ganlab sweep` writes them (format "
            f"{FORMAT}): move the folder away, or give the sweep another --name"
        )
    return manifest


def manifest_problem(manifest: Any) -> str | None:
    """What makes ``manifest`` no manifest of format :data:`FORMAT`, as ``it has no 'resolved'`` or
    ``runs[2] has no 'status'``; None if nothing does."""
    problem = MANIFEST_SHAPE.problem(manifest)
    if problem is not None:
        return f"it {problem}"
    return next(
        (
            f"runs[{i}] {run_problem}"
            for i, run in enumerate(manifest["runs"])
            if (run_problem := RUN_SHAPE.problem(run)) is not None
        ),
        None,
    )


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = now_iso()
    try:
        atomic_write_text(Path(folder) / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    except OSError as e:
        raise RunError(f"cannot write the sweep manifest in {str(folder)!r}: {e.strerror or e}") from None


def as_installed(resolved: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """A recorded resolved recipe as the installed ganlab and plugins resolve it: a setting an upgrade added
    since the sweep started takes its default, as a resumed run's does, so it is no change. A recipe they
    can no longer resolve is compared as it was recorded (its unknown settings then differ)."""
    try:
        return recorded_recipe(resolved, registry, MANIFEST).to_dict()
    except RecipeError:
        return current_sections(resolved, MANIFEST, quiet=True)


def differences(recorded: dict[str, Any], wanted: dict[str, Any], registry: Registry) -> list[str]:
    """What makes ``wanted`` another sweep than the ``recorded`` one: each changed recipe setting, the
    grid, the seeds. Empty when it is the same sweep."""
    found = []
    before = dict(dotted_settings(as_installed(recorded["resolved"], registry)))
    after = dict(dotted_settings(wanted["resolved"]))
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            found.append(f"recipe setting {key}: was {before.get(key)!r}, now {after.get(key)!r}")
    if grid_settings(recorded["grid"]) != grid_settings(wanted["grid"]):
        found.append(f"grid: was {_grid_text(recorded['grid'])}, now {_grid_text(wanted['grid'])}")
    if recorded["seeds"] != wanted["seeds"]:
        found.append(f"seeds: were {recorded['seeds']}, now {wanted['seeds']}")
    elif not found and _run_names(recorded) != _run_names(wanted):  # the same grid, other combinations of it
        found.append(f"runs: were {', '.join(_run_names(recorded))}, now {', '.join(_run_names(wanted))}")
    return found


def _run_names(manifest: dict[str, Any]) -> list[str]:
    return [run["name"] for run in manifest["runs"]]


def grid_settings(grid: dict[str, list[Any]]) -> list[tuple[Any, list[Any]]]:
    """A manifest's grid as (the setting each key names, its values), in order: what two grids are compared
    by, whatever the spelling of their keys."""
    return [(setting_of(key), values) for key, values in grid.items()]


def _grid_text(grid: dict[str, list[Any]]) -> str:
    return " ".join(f"{key}={json.dumps(values)}" for key, values in grid.items()) or "none"
