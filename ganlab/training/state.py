"""Checkpoint and random-number state: what a checkpoint holds of a run, putting a run back where a
checkpoint found it (bit for bit when it is continued on the same kind of device), and seeding.

A checkpoint is one flat dict of plain values, so later features add their own keys beside these.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..contracts.engine import ImageDataset
from ..recipes.recipe import OLD_SECTIONS, Recipe
from ..rundir.checkpoints import (
    check_optimizer_state,
    fitting,
    generator_only,
    same_shape,
    training_state,
    whole_number,
)
from .assemble import Built
from .loggers import Loggers
from .networks import EMA, Updater
from .step import Levers


class TrainerState(Protocol):
    """What a checkpoint holds of a live run (:class:`ganlab.training.loop.Trainer`), and all this module
    reads or restores of one: named here, so the loop, which writes checkpoints, is not imported back."""

    recipe: Recipe
    built: Built
    dataset: ImageDataset
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    update_g: Updater
    update_d: Updater
    ema: EMA | None
    levers: Levers
    loggers: Loggers
    noise_rng: torch.Generator
    fixed_noise: torch.Tensor
    step: int
    epochs_completed: int
    batch_in_epoch: int
    imported_from: Path | None

    @property
    def elapsed(self) -> float: ...

    def restart_clock(self, elapsed_before: float) -> None: ...


def cuda_rng_state(device: torch.device) -> list[torch.Tensor]:
    """The state of ``device``'s default generator (what draws without a generator of their own use, such
    as a penalty's mixing weights) when it is a GPU, else nothing.

    Only this process's own GPU: every process of a run keeps the same state on its own GPU, so each
    restores this one into its own, on a machine with any number of GPUs.
    """
    return [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []


def restore_cuda_rng_state(device: torch.device, saved: list[torch.Tensor]) -> None:
    """Undo :func:`cuda_rng_state` on ``device``, whichever GPU it is."""
    if device.type == "cuda" and saved:
        torch.cuda.set_rng_state(saved[0], device)


def written_on(state: dict[str, Any]) -> str:
    """The kind of device (``cuda``, ``cpu``, ...) a checkpoint was written on. Checkpoints of ganlab 0.2.0
    do not record it; of those, only a GPU run's holds a GPU random state, which is what tells."""
    return state.get("device") or ("cuda" if state["rng"]["cuda"] else "cpu")


def checkpoint_state(run: TrainerState) -> dict[str, Any]:
    """Everything needed to continue exactly: state dicts, counters and RNG states; plain values only.

    One flat dict, so later features add their own keys (an EMA generator, a grad scaler) beside these.
    """
    np_state = np.random.get_state()
    state = {
        "generator": run.generator.state_dict(),
        "discriminator": run.discriminator.state_dict(),
        "optimizer_g": run.update_g.optimizer.state_dict(),
        "optimizer_d": run.update_d.optimizer.state_dict(),
        "step": run.step,
        "epoch": run.epochs_completed,
        "batch_in_epoch": run.batch_in_epoch,
        "elapsed_s": run.elapsed,
        "fixed_noise": run.fixed_noise.cpu(),
        "device": run.device.type,
        "rng": {
            "noise": run.noise_rng.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": cuda_rng_state(run.device),
            "numpy": {
                "key": np_state[0],
                "state": torch.from_numpy(np_state[1].astype(np.int64)),
                "pos": int(np_state[2]),
                "has_gauss": int(np_state[3]),
                "cached_gaussian": float(np_state[4]),
            },
            "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0],
            "python_gauss": random.getstate()[2],
        },
        "recipe": run.recipe.to_dict(),
        "image_shape": [run.dataset.channels, run.dataset.image_size, run.dataset.image_size],
        "evaluators": {component.section: evaluator.state_dict() for component, evaluator in run.built.evaluators},
        "levers": levers_state(run),
    }
    if run.label_distribution is not None:  # so a conditional generator is rebuilt without the data
        state["labels"] = run.label_distribution.to_dict()
    if run.ema is not None:
        state["ema"] = run.ema.module.state_dict()
    for key, updater in (("scaler_g", run.update_g), ("scaler_d", run.update_d)):
        if updater.scaler is not None:
            state[key] = updater.scaler.state_dict()
    return state


def load_checkpoint_state(run: TrainerState, state: dict[str, Any], source: Path) -> bool:
    """Put ``run`` where :func:`checkpoint_state` found it: weights, optimizers, counters, RNGs, evaluators.

    Returns whether it continues exactly. A checkpoint written on another kind of device (a GPU run
    continued on a CPU) holds a latent generator whose state this device's cannot take, so the latents
    are drawn from the run's seed afresh; everything else carries over. A part that does not fit what
    this recipe builds is a CheckpointError naming ``source`` (the checkpoint file) and the part.
    """
    state = training_state(state, source)
    if generator_only(state):
        load_imported_generator(run, state, source)
        return True
    run.imported_from = None
    for key, network in (("generator", run.generator), ("discriminator", run.discriminator)):
        with fitting(source, key, f"the {run.recipe.component(key).name!r} {key} installed here"):
            network.load_state_dict(state[key])
    for key, role in (("optimizer_g", "generator"), ("optimizer_d", "discriminator")):
        optimizer = getattr(run.built, key)
        with fitting(
            source,
            key,
            f"the {run.recipe.component(f'optimizer.{role}').name!r} optimizer of the {role} installed here",
        ):
            optimizer.load_state_dict(state[key])
            check_optimizer_state(optimizer, getattr(run.built, role))
    # the checkpoint's "epoch" counts completed epochs
    for key, attribute in (("step", "step"), ("epoch", "epochs_completed"), ("batch_in_epoch", "batch_in_epoch")):
        with fitting(source, key, "a counter of the run"):
            setattr(run, attribute, whole_number(state[key]))
    with fitting(source, "elapsed_s", "the run's training time in seconds"):
        run.restart_clock(float(state["elapsed_s"]))
    with fitting(source, "fixed_noise", "the recipe's grid of latent vectors"):
        run.fixed_noise = same_shape(state["fixed_noise"], run.fixed_noise).to(run.device)
    with fitting(source, "rng", "this machine's random generators"):
        same_device = written_on(state) == run.device.type
        _restore_rng(run, state["rng"], same_device)
    if run.ema is not None:
        with fitting(source, "ema", "the averaged generator that train.ema keeps"):
            run.ema.module.load_state_dict(state["ema"])
    for key, updater in (("scaler_g", run.update_g), ("scaler_d", run.update_d)):
        if updater.scaler is not None:
            with fitting(source, key, "the gradient scaler of train.precision"):
                updater.scaler.load_state_dict(state[key])
    for component, evaluator in run.built.evaluators:
        with fitting(source, "evaluators", f"the {component.name!r} evaluator of {component.section}"):
            evaluator.load_state_dict(evaluator_states(state).get(component.section, {}))
    load_levers_state(run, state.get("levers", {}), source)
    return same_device


def load_imported_generator(run: TrainerState, state: dict[str, Any], source: Path) -> None:
    """Put the weights of a checkpoint that ``ganlab import`` wrote into ``run``'s generator (and its
    averaged copy, which samples): all such a checkpoint holds. What scores it needs nothing else; the rest
    of the run stays as built, and resuming it is refused (:mod:`ganlab.training.resume`)."""
    target = f"the {run.recipe.component('generator').name!r} generator installed here"
    for network in (run.generator, *([run.ema.module] if run.ema is not None else [])):
        with fitting(source, "generator", target):
            network.load_state_dict(state["generator"])
    run.step = run.epochs_completed = run.batch_in_epoch = 0
    run.imported_from = source


def evaluator_states(state: dict[str, Any]) -> dict[str, Any]:
    """The evaluators' states a checkpoint holds, by recipe section (``evaluators[0]``). A checkpoint of
    ganlab 0.4 holds them under the old name of the section, keyed by old sections: read as the new ones
    (until 0.6), so resuming or evaluating such a run gives each evaluator back its state."""
    for old, new in OLD_SECTIONS.items():
        if new not in state and old in state:
            return {new + section.removeprefix(old): value for section, value in state[old].items()}
    return state["evaluators"]


def levers_state(run: TrainerState) -> dict[str, Any]:
    """The augmentation's, each regularizer's (with the last term it logged) and each logger's state.
    Schedules have none: their rates are a function of the step."""
    levers = run.levers
    return {
        "augment": levers.augment.state_dict() if levers.augment is not None else {},
        "regularizers": {
            component.section: {"state": regularizer.state_dict(), "last_term": last.cpu()}
            for (component, regularizer), last in zip(levers.regularizers, levers.last_terms)
        },
        "loggers": {component.section: logger.state_dict() for component, logger in run.loggers.loggers},
    }


def load_levers_state(run: TrainerState, state: dict[str, Any], source: Path) -> None:
    """Undo :func:`levers_state`; a checkpoint from before the levers existed holds none, which is theirs
    at the start of a run."""
    levers = run.levers
    if levers.augment is not None:
        augment = run.recipe.augment
        with fitting(source, "levers", f"the {augment.name!r} augmentation of [augment]"):
            levers.augment.load_state_dict(state.get("augment", {}))
    for i, (component, regularizer) in enumerate(levers.regularizers):
        with fitting(source, "levers", f"the {component.name!r} regularizer of {component.section}"):
            saved = state.get("regularizers", {}).get(component.section)
            if saved is not None:
                regularizer.load_state_dict(saved["state"])
                levers.last_terms[i] = same_shape(saved["last_term"], levers.last_terms[i]).to(run.device)
    for component, logger in run.loggers.loggers:
        with fitting(source, "levers", f"the {component.name!r} logger of {component.section}"):
            logger.load_state_dict(state.get("loggers", {}).get(component.section, {}))


def _restore_rng(run: TrainerState, rng: dict[str, Any], same_device: bool) -> None:
    if same_device:
        run.noise_rng.set_state(rng["noise"])
        restore_cuda_rng_state(run.device, rng["cuda"])
    torch.set_rng_state(rng["torch"])
    numpy_rng = rng["numpy"]
    np.random.set_state(
        (
            numpy_rng["key"],
            numpy_rng["state"].numpy().astype(np.uint32),
            numpy_rng["pos"],
            numpy_rng["has_gauss"],
            numpy_rng["cached_gaussian"],
        )
    )
    random.setstate((rng["python_version"], tuple(rng["python"]), rng["python_gauss"]))
