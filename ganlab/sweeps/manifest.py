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
must give the same three, or it is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import RunError
from ..recipes.recipe import dotted_settings
from ..rundir.atomic import atomic_write_text
from ..rundir.rundir import now_iso
from .plan import GridAxis, PlannedRun

FORMAT = 1
MANIFEST = "sweep.json"
PENDING = "pending"


def new_manifest(name: str, recipe: str, overrides: list[str], resolved: dict[str, Any],
                 axes: list[GridAxis], seeds: list[int], launcher: str, runs: list[PlannedRun]) -> dict[str, Any]:
    """The manifest of a sweep no run of which has started."""
    return {
        "format": FORMAT, "name": name, "recipe": recipe, "overrides": list(overrides), "resolved": resolved,
        "grid": {axis.key: list(axis.values) for axis in axes}, "seeds": list(seeds), "launcher": launcher,
        "created": now_iso(), "updated": now_iso(),
        "runs": [{"name": run.name, "settings": dict(run.settings), "seed": run.seed, "overrides": run.overrides,
                  "status": PENDING} for run in runs],
    }


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest in ``folder``, None if there is none; one that cannot be read is a RunError."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise RunError(f"{str(path)!r} cannot be read as a sweep manifest: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunError(f"{str(path)!r} is not a sweep manifest of format {FORMAT} (what "
                       "`ganlab sweep` writes); move the folder away or choose another --name")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = now_iso()
    try:
        atomic_write_text(Path(folder) / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    except OSError as e:
        raise RunError(f"cannot write the sweep manifest in {str(folder)!r}: {e.strerror or e}") from None


def differences(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """What makes ``wanted`` another sweep than the ``recorded`` one: each changed recipe setting, the
    grid, the seeds. Empty when it is the same sweep."""
    found = []
    before, after = dict(dotted_settings(recorded["resolved"])), dict(dotted_settings(wanted["resolved"]))
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            found.append(f"recipe setting {key}: was {before.get(key)!r}, now {after.get(key)!r}")
    if recorded["grid"] != wanted["grid"]:
        found.append(f"grid: was {_grid_text(recorded['grid'])}, now {_grid_text(wanted['grid'])}")
    if recorded["seeds"] != wanted["seeds"]:
        found.append(f"seeds: were {recorded['seeds']}, now {wanted['seeds']}")
    return found


def _grid_text(grid: dict[str, list[Any]]) -> str:
    return " ".join(f"{key}={json.dumps(values)}" for key, values in grid.items()) or "none"
