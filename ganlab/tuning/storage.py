"""The Optuna study of a study folder, opened the one way ``ganlab tune`` and its trials' loggers open it:
SQLite storage in the folder (waiting on a busy database rather than failing, since several trial
processes write to it at once), the pruner study.json names, and, for the process that asks for trials,
the TPE sampler seeded as recorded. Optuna is imported here only, on first use.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..common.errors import RunError, first_line
from .study import DATABASE, storage_url

OPTUNA_MISSING = "ganlab tune needs optuna, which is not installed: pip install 'ganlab[tune]'"
BUSY_TIMEOUT_S = 120
"""How long a process waits for another's write to the SQLite database before it gives up."""


def pruner(record: dict[str, Any]) -> Any:
    import optuna

    if record["pruner"] == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=record["startup_trials"], n_warmup_steps=0)
    if record["pruner"] == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_storage(folder: Path, create: bool = False) -> Any:
    """The study folder's SQLite storage, made if new only with ``create`` (the ``ganlab tune`` that runs the
    study): a report or ``load_study`` of a folder whose database is gone must say so, not make an empty one.
    A database Optuna cannot open (damaged, not SQLite) is a RunError naming it."""
    import optuna

    database = Path(folder) / DATABASE
    if not create and not database.is_file():
        raise RunError(f"{str(database)!r} does not exist: the study's database, which holds its trials, is missing")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    with unreadable_database(database):
        return optuna.storages.RDBStorage(
            storage_url(folder), engine_kwargs={"connect_args": {"timeout": BUSY_TIMEOUT_S}}
        )


@contextlib.contextmanager
def unreadable_database(database: Path) -> Iterator[None]:
    """Whatever opening ``database`` raises (SQLAlchemy's DatabaseError for a file that is no SQLite
    database, Optuna's own for a schema it does not know) as a RunError naming the file."""
    try:
        yield
    except RunError:
        raise
    except Exception as e:
        raise RunError(f"{str(database)!r} is no study database Optuna can open ({first_line(e)})") from None


def open_study(folder: Path, record: dict[str, Any], sampling: bool = False, storage: Any = None) -> Any:
    """The study of ``folder`` (made in its database if new) in ``storage`` (default: the folder's);
    ``sampling``: with the TPE sampler that asks for trials (Optuna's TPE: its first 10 trials at random,
    then each drawn where the better trials so far lie), seeded by :func:`sampler_seed`."""
    import optuna

    storage = storage or open_storage(folder)
    with unreadable_database(Path(folder) / DATABASE):
        study = optuna.create_study(
            study_name=record["name"],
            storage=storage,
            direction=record["direction"],
            pruner=pruner(record),
            load_if_exists=True,
        )
        if sampling:
            held = len(study.get_trials(deepcopy=False))
            study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(record["sampler_seed"], held))
    return study


def sampler_seed(seed: int, trials: int) -> int:
    """The seed of the sampler of a ``ganlab tune`` that finds ``trials`` trials in the study: the study's
    ``sampler_seed`` for a new study, and for a continued one a seed drawn from both, since the sampler
    starts afresh in each command and would otherwise draw the first trials' settings again."""
    import numpy as np

    if trials == 0:
        return seed
    return int(np.random.SeedSequence([seed, trials]).generate_state(1)[0])
