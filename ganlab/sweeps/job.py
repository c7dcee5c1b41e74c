"""What one submitit job runs: the run of a sweep, started or resumed by the same lifecycle functions
as ``ganlab run`` and ``ganlab run --resume``, so a job's run is the run the CLI would have made.

Submitit pickles :func:`run_job` by name and calls it in the job's own Python process (a Slurm node,
or a process of this machine with the local executor).
"""

from __future__ import annotations

from pathlib import Path

from ..common.errors import GanlabError
from ..loading.manager import load_plugins_or_warn
from ..machine import signals
from ..recipes.recipe import load_recipe
from ..training.lifecycle import run_recipe
from ..training.resume import resume_run


def run_job(recipe: str, overrides: list[str], folder: str, name: str, resume: bool) -> str | None:
    """Start run ``folder/name`` of ``recipe`` with ``overrides``, or resume it; the error that ended it,
    if one did (its meta.json records how it ended either way).

    SIGINT and SIGTERM (what ``scancel`` and a cancelled local job send) stop the run as they stop
    ``ganlab run``: a checkpoint, status ``interrupted``, resumable.
    """
    with signals.stopping_commands():
        try:
            plugins = load_plugins_or_warn()
            if resume:
                resume_run(Path(folder) / name, plugins, progress=False)
            else:
                run_recipe(
                    load_recipe(recipe, plugins.registry, overrides),
                    plugins,
                    Path(folder),
                    name,
                    progress=False,
                    stamped=False,
                )
        except GanlabError as e:
            return str(e)
        except KeyboardInterrupt as e:
            return f"interrupted by {signals.describe(signals.signal_of(e))}"
    return None
