"""A study's folder held for one ``ganlab tune``: made and locked, its record continued or refused (a study of
the same name with another recipe or search), and removed again when the study is refused before any
trial started. The folder's layout and record format are :mod:`ganlab.tuning.study`'s.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..common.errors import RunError
from ..recipes.recipe import dotted_settings
from ..registry.registry import Registry
from ..rundir.rundir import now_iso
from ..sweeps.manifest import as_installed
from ..sweeps.sweep import hold_folder, missing_folders, release_lock, remove_made
from .plan import StudyPlan
from .study import DEFINING, FORMAT, LOCK, RECORD, TRIAL_PREFIX, read_record


def new_record(name: str, plan: StudyPlan) -> dict[str, Any]:
    settings = plan.settings
    return {
        "format": FORMAT,
        "name": name,
        "recipe": plan.file.source,
        "overrides": list(plan.overrides),
        "resolved": plan.base.to_dict(),
        "space": {dimension.key: dimension.to_table() for dimension in plan.dimensions},
        "objective": settings.objective,
        "direction": plan.direction,
        "evaluator": plan.evaluator,
        "pruner": settings.pruner,
        "startup_trials": settings.startup_trials,
        "sampler_seed": plan.sampler_seed,
        "recheck_top": settings.recheck_top,
        "recheck_seeds": settings.recheck_seeds,
        "created": now_iso(),
        "updated": now_iso(),
        "recheck": None,
        "budget": None,
    }


def differences(recorded: dict[str, Any], wanted: dict[str, Any], registry: Registry) -> list[str]:
    """What makes ``wanted`` another study than the ``recorded`` one; empty when it is the same study."""
    found = []
    before = dict(dotted_settings(as_installed(recorded["resolved"], registry)))
    after = dict(dotted_settings(wanted["resolved"]))
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            found.append(f"recipe setting {key}: was {before.get(key)!r}, now {after.get(key)!r}")
    for key in DEFINING:
        if recorded[key] != wanted[key]:
            found.append(f"{key}: was {json.dumps(recorded[key])}, now {json.dumps(wanted[key])}")
    return found


def continued_record(folder: Path, wanted: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """The record to keep: ``wanted`` for a new study, the recorded one for the same study run again; another
    study under this name is refused."""
    recorded = read_record(folder)
    if recorded is None:
        return wanted
    changed = differences(recorded, wanted, registry)
    if changed:
        raise RunError(
            f"{str(folder / RECORD)!r}: study {folder.name!r} was made with another recipe or search, and its "
            "trials are kept as they are: "
            + "; ".join(changed)
            + ". Give this study another --name, or the same recipe, --set and [tune] to continue that one"
        )
    return recorded


@contextlib.contextmanager
def held_study_folder(folder: Path) -> Iterator[None]:
    """The study's folder, made if need be and locked for the block (two ``ganlab tune`` of one study at
    once would ask for trials twice; the trial processes of one ``ganlab tune`` share the database). A
    folder the block made is removed again when the block ends in an error before any trial has a run
    directory: a study that started nothing leaves nothing."""
    made = missing_folders(folder)
    lock = hold_folder(folder, "study", RECORD, LOCK)
    try:
        yield
    except BaseException:
        if made and not any(path.name.startswith(TRIAL_PREFIX) for path in folder.iterdir()):
            remove_made(made)
        raise
    finally:
        release_lock(lock, folder / LOCK)
