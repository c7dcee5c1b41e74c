"""A run's lifecycle: build, create its run directory, train under signal handling, and record how it
ended (meta.json, the evaluators' end-of-run work, the report), whatever the ending."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import torch

from ..common.errors import GanlabError, RunError, warn
from ..common.version import __version__
from ..loading.manager import Plugins
from ..machine import distributed, signals
from ..machine.devices import recipe_device
from ..machine.threads import ContentionWatch, choose_threads, computing_with
from ..recipes.recipe import Recipe
from ..report.build import write_report
from ..rundir.rundir import RunDir, now_iso
from .assemble import build
from .loop import Trainer
from .networks import warn_if_slow
from .stopping import FORWARDED_WITHIN_S, RunDiverged, RunEndedEarly, RunInterrupted, graceful_interrupt


def environment(plugins: Plugins) -> dict[str, Any]:
    import torchvision

    return {
        "ganlab": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "plugins": {p.name: p.version or ("built-in" if p.builtin else "unknown") for p in plugins.infos},
    }


def start_meta(run: Trainer, plugins: Plugins) -> dict[str, Any]:
    recipe = run.recipe
    return {
        "name": run.run_dir.name,
        "experiment": recipe.experiment.name,
        "status": "running",
        "recipe_source": recipe.source,
        "overrides": list(recipe.overrides),
        "created": now_iso(),
        "started": now_iso(),
        "ended": None,
        "seed": recipe.experiment.seed,
        "device": str(run.device),
        "device_name": torch.cuda.get_device_name(run.device) if run.device.type == "cuda" else "cpu",
        "batch_size": recipe.train.batch_size,
        "d_steps": recipe.train.d_steps,
        "steps": 0,
        "total_steps": run.total_steps,
        "epochs_completed": 0,
        "epochs": recipe.train.epochs,
        "versions": environment(plugins),
        "scores": run.built.loss.score_kind.to_dict(),
        "plugin_failures": [f.message() for f in plugins.failures],
        "error": None,
        **label_records(run),
    }


def label_records(run: Trainer) -> dict[str, Any]:
    """meta.json's record of a labelled run's labels (its label space and their distribution), so that they
    can be read without the data; none for unlabelled data."""
    labels = run.label_distribution
    return {"label_space": labels.space.to_dict(), "labels": labels.to_dict()} if labels is not None else {}


def run_recipe(
    recipe: Recipe, plugins: Plugins, out: Path, name: str | None = None, progress: bool = True, stamped: bool = True
) -> RunDir:
    """Build everything, create the run directory (``out/NAME`` exactly when not ``stamped``, see
    :meth:`RunDir.create`), train, and leave the directory complete.

    The run ends with status finished, interrupted (SIGINT or SIGTERM: a checkpoint is written first, at
    the first step when the signal came while the run was set up), diverged, failed (with the error
    recorded), or the status of a component that ended it early (:meth:`ganlab.RunView.end_early`, after a
    checkpoint); in every case meta.json says so and the end-of-run evaluators run.
    """
    world, device = distributed.join(recipe_device(recipe.experiment.device, recipe.source))
    built = build(recipe, device, world.size)
    run_dir = RunDir.create(out, name or recipe.experiment.name, stamped) if world.is_main else None
    path = distributed.broadcast(world, run_dir.path if run_dir else None)
    run_dir = run_dir or RunDir(path)
    with signals.held() as received:  # never a run directory without its meta.json: stop at the first step
        run = Trainer(built, run_dir, plugins, progress, world)
        if world.is_main:
            run_dir.recipe_path.write_text(recipe.to_toml(), "utf-8")
            run_dir.write_meta(start_meta(run, plugins))
    if received:
        run.stop.request(received[0])
    execute(run)
    return run_dir


def execute(run: Trainer) -> None:
    """Train ``run`` from where it stands and record how it ended; shared by new and resumed runs.

    A precision this device would run slowly is warned about first. Torch computes with the thread count
    :func:`~ganlab.machine.threads.choose_threads` gives (a resumed run: the one it started with), recorded
    in meta.json; a machine that other processes keep busy is warned about.

    A full disk or an unwritable run directory becomes a RunError; the checkpoints written before it
    stay intact.
    """
    alone = not run.world.distributed  # processes of one run follow the launcher's count alike
    recorded = run.run_dir.read_checked_meta().get("threads") if alone else None
    threads = choose_threads(run.recipe.train.threads, recorded)
    if run.world.is_main:
        warn_if_slow(run.recipe.train.precision, run.device)
        run.run_dir.update_meta(threads=threads.threads)
        run.contention = ContentionWatch(threads)
    status, error, finished, stop_reason = "failed", None, False, None
    try:
        with (
            graceful_interrupt(run.stop, FORWARDED_WITHIN_S if run.world.distributed else 0.0),
            computing_with(threads),
        ):
            run.train()
        status, finished = "finished", True
    except RunEndedEarly as e:
        status, stop_reason, finished = e.end.status, e.end.reason, True
    except KeyboardInterrupt as e:
        signum = signals.signal_of(e)
        status = "interrupted"
        error = f"interrupted by {signals.describe(signum)} at step {run.step}"
        raise RunInterrupted(
            f"run interrupted by {signals.describe(signum)} at step {run.step}; continue it "
            f"with: ganlab run --resume {run.run_dir.path}",
            signum,
        ) from None
    except RunDiverged as e:
        status, error = "diverged", str(e)
        raise
    except GanlabError as e:
        error = str(e)
        raise
    except OSError as e:
        error = f"cannot write to the run directory {str(run.run_dir.path)!r}: {e.strerror or e}"
        raise RunError(f"{error}; its last checkpoint is intact") from None
    except Exception as e:
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        raise
    finally:
        try:
            if run.world.is_main:
                finish(run, status, error, stop_reason)
        except OSError as e:
            if finished:  # otherwise the error that stopped training is the one to report
                raise RunError(f"cannot record the end of run {str(run.run_dir.path)!r}: {e.strerror or e}") from None
        finally:
            distributed.shutdown()


def finish(run: Trainer, status: str, error: str | None, stop_reason: str | None = None) -> None:
    """Record how the run ended, let every evaluator write its final data, write the report.

    Never masks the original error: an evaluator or report failure is recorded in meta.json instead. A stop
    signal while the evaluators run (an end-of-run evaluation can take minutes) skips the remaining evaluators and
    marks a finished run interrupted; meta.json and the report are still written, a first signal while they are
    held until they are, and the signal is raised again afterwards.
    """
    meta_changes = {
        "status": status,
        "ended": now_iso(),
        "steps": run.step,
        "epochs_completed": run.epochs_completed,
        "elapsed_s": round(run.elapsed, 3),
        "error": error,
        "stop_reason": stop_reason,
    }
    images = run.step * run.recipe.train.batch_size * run.recipe.train.d_steps
    meta_changes["images_per_s"] = round(images / run.elapsed, 2) if run.elapsed > 0 else None
    evaluator_errors, stopped = [], None
    try:
        for component, evaluator in run.built.evaluators:
            try:
                evaluator.on_run_end(run, status)
            except Exception as e:  # a broken evaluator must not lose the run's status
                evaluator_errors.append(f"{component.section} ({component.name}): {type(e).__name__}: {e}")
                warn(f"evaluator {evaluator_errors[-1]} (at the end of the run; recorded in meta.json)")
    except KeyboardInterrupt as e:
        stopped = e
        cut_short = f"interrupted by {signals.describe(signals.signal_of(e))} while the end-of-run evaluators ran"
        if status == "finished":
            meta_changes.update(status="interrupted", error=cut_short)
        else:  # a failed or diverged run stays so; the signal only cut its evaluators short
            evaluator_errors.append(cut_short)
    if evaluator_errors:
        meta_changes["evaluator_errors"] = evaluator_errors
    run.loggers.finish(meta_changes["status"])
    with signals.deferred():
        try:
            run.run_dir.update_meta(**meta_changes)
            try:
                write_report(run.run_dir, run.plugins.registry)
            except Exception as e:  # the report is derived and rebuildable; the run's outcome is not
                run.run_dir.update_meta(report_error=f"{type(e).__name__}: {e}")
                warn(
                    f"the report of {str(run.run_dir.path)!r} could not be written ({type(e).__name__}: {e}); "
                    f"the run is recorded; try again with: ganlab report {run.run_dir.path}"
                )
        finally:
            run.run_dir.unlock()
    if stopped is not None:
        raise stopped
