"""Assembling a recipe: build every component and run every cross-check, before anything is trained.

The one check pass of every command that builds a recipe (``validate``, ``run``, ``run --resume``,
``data``, ``evaluate``): what ``run`` would refuse, ``validate`` refuses with the same message, and
``run`` refuses it before its run directory exists.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from ..common.errors import ConfigError, DataError, PluginError, RecipeError, warn
from ..contracts.engine import BuildContext, Evaluator, ImageDataset, Loss
from ..contracts.levers import Augment, Regularizer, Schedule
from ..contracts.loggers import Logger
from ..data.loader import free_memory, goes_to_device
from ..machine.devices import recipe_device
from ..machine.memory import Need, available_host_memory, refuse_if_too_big
from ..recipes.recipe import Component, Recipe, TrainConfig
from . import returns
from .conditioning import blank_labels, forward, is_conditional
from .sampling import preserved_buffers
from .step import METRIC_KEYS, RATE_KEYS


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators, so that every build starts alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclasses.dataclass
class Built:
    """Every component of a recipe, built and checked to fit together."""

    recipe: Recipe
    device: torch.device
    dataset: ImageDataset
    generator: nn.Module
    discriminator: nn.Module
    loss: Loss
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    evaluators: list[tuple[Component, Evaluator]]
    augment: Augment | None
    regularizers: list[tuple[Component, Regularizer]]
    schedules: tuple[Schedule, Schedule]
    """The generator's and the discriminator's."""
    loggers: list[tuple[Component, Logger]]


def build(recipe: Recipe, device: torch.device | None = None, processes: int = 1) -> Built:
    """Build and cross-check all components; raises a GanlabError before any training happens.

    The one check pass of every command that builds a recipe (validate, run, resume, evaluate): what
    ``run`` would refuse, ``validate`` refuses with the same message, and ``run`` refuses it before its
    run directory exists. ``processes`` is the number of training processes the batch is split over.
    """
    source = recipe.source
    seed = recipe.experiment.seed
    device = device or recipe_device(recipe.experiment.device, recipe.source)
    dataset = build_dataset(recipe, device)
    returns.check_dataset(recipe.component("data"), dataset, source)
    check_training_plan(recipe, dataset, device, processes)
    context = BuildContext(
        seed=seed,
        device=device,
        image_size=dataset.image_size,
        channels=dataset.channels,
        label_space=getattr(dataset, "label_space", None),
        dataset=dataset,
    )
    generator, discriminator = _build_networks(recipe, context)
    check_conditioning(recipe, context, generator, discriminator)
    _initialise(recipe.component("init"), context, source, generator, discriminator)
    generator.to(device)
    discriminator.to(device)
    _check_shapes(generator, discriminator, (dataset.channels, dataset.image_size, dataset.image_size), device, source)
    loss = returns.build_instance(recipe.component("loss"), context, source)
    returns.check_loss(recipe.component("loss"), loss, source)
    _check_fits(loss, discriminator, source)
    optimizer_g = _build_optimizer(recipe.component("optimizer.generator"), context, source, generator)
    optimizer_d = _build_optimizer(recipe.component("optimizer.discriminator"), context, source, discriminator)
    refuse_needs(
        [need for h in recipe.evaluators for need in stated_memory_needs(h, context, source)],
        available_host_memory(),
        "memory",
        source,
    )
    evaluators = [(h, _stateful(h, returns.build_instance(h, context, source), source)) for h in recipe.evaluators]
    augment = (
        _stateful(recipe.augment, returns.build_instance(recipe.augment, context, source), source)
        if recipe.augment
        else None
    )
    if augment is not None:
        returns.check_logged(recipe.augment, augment, source, ("step", "epoch", "time", *METRIC_KEYS, *RATE_KEYS))
    regularizers = [(r, _stateful(r, returns.build_instance(r, context, source), source)) for r in recipe.regularizers]
    for component, regularizer in regularizers:
        returns.check_regularizer(component, regularizer, source)
        _check_fits(regularizer, discriminator, source)
    schedules = tuple(
        _build_schedule(recipe.component(f"schedule.{role}"), context, source, total_steps(len(dataset), recipe.train))
        for role in ("generator", "discriminator")
    )
    loggers = [(c, _stateful(c, returns.build_instance(c, context, source), source)) for c in recipe.loggers]
    return Built(
        recipe,
        device,
        dataset,
        generator,
        discriminator,
        loss,
        optimizer_g,
        optimizer_d,
        evaluators,
        augment,
        regularizers,
        schedules,
        loggers,
    )


def _stateful(component: Component, built: Any, source: str) -> Any:
    """``built``, once its ``state_dict()`` is something a checkpoint can hold."""
    returns.check_state(component, built, source)
    return built


def _initialise(component: Component, context: BuildContext, source: str, *networks: nn.Module) -> None:
    """Give each network its initial weights: an ``init`` component is a function of a network."""
    init = _function(component, context, source, "a network")
    for network in networks:
        returns.called(component, source, "its function of a network", lambda network=network: init(network))


def _build_optimizer(
    component: Component, context: BuildContext, source: str, network: nn.Module
) -> torch.optim.Optimizer:
    """The optimizer of ``network``'s parameters: an ``optimizer`` component is a function of them."""
    make = _function(component, context, source, "a network's parameters")
    return returns.answer(
        component,
        source,
        "its function of the parameters",
        lambda: make(network.parameters()),
        "a torch.optim.Optimizer",
        lambda v: isinstance(v, torch.optim.Optimizer),
    )


def _function(component: Component, context: BuildContext, source: str, of: str) -> Any:
    """The function an ``init`` or ``optimizer`` component is (of ``of``), as its factory builds it."""
    return returns.answer(
        component,
        source,
        "its factory",
        lambda: returns.build_component(component, context, source),
        f"a function of {of}",
        callable,
    )


def _build_schedule(component: Component, context: BuildContext, source: str, steps: int) -> Schedule:
    schedule = returns.build_instance(component, context, source)
    returns.check_schedule(component, schedule, source, steps)
    return schedule


def build_dataset(recipe: Recipe, device: torch.device | None) -> ImageDataset:
    """The recipe's data set, built only once the networks accept its planned image size and what the
    recipe sizes (the data set's build among them) fits in memory, so that nothing is decoded or allocated
    for a recipe that cannot train; nothing is decoded here either. ``device`` None (the data commands,
    which train nothing) checks the data set's build but not the training's memory. Seeds everything
    first, so every build starts alike."""
    seed_everything(recipe.experiment.seed)
    context = BuildContext(seed=recipe.experiment.seed, device=device or torch.device("cpu"))
    check_sizes(recipe, device, context)
    return returns.build_component(recipe.component("data"), context, recipe.source)


def planned_shape(recipe: Recipe) -> tuple[int, int] | None:
    """(channels, image size) the data section asks for, known before the data set is built when its
    config has an ``image_size`` (and, unless the images are RGB, a ``channels``) setting."""
    config = recipe.component("data").config
    size, channels = getattr(config, "image_size", None), getattr(config, "channels", 3)
    return (channels, size) if isinstance(size, int) and isinstance(channels, int) else None


def check_sizes(recipe: Recipe, device: torch.device | None, data_context: BuildContext) -> None:
    """Let the networks refuse the planned image size, and refuse what cannot fit in memory, with nothing
    allocated: the data set's build (in host memory, built with ``data_context``) and, on ``device`` (None:
    not checked), training, which on the CPU shares host memory with the data set."""
    networks = meta_networks(recipe)
    training = memory_needs(recipe, *networks) if networks is not None and device is not None else []
    host = stated_memory_needs(recipe.component("data"), data_context, recipe.source)
    if device is not None and device.type != "cpu":
        refuse_needs(training, free_memory(device), "GPU memory" if device.type == "cuda" else "memory", recipe.source)
        training = []
    refuse_needs(host + training, available_host_memory(), "memory", recipe.source)


def refuse_needs(needs: list[Need], available: int | None, where: str, source: str) -> None:
    """:func:`refuse_if_too_big` as a recipe error of ``source``."""
    try:
        refuse_if_too_big(needs, available, where)
    except ConfigError as e:
        raise RecipeError(source, [f"{e.key}: {e.message}"]) from None


def meta_networks(recipe: Recipe) -> tuple[nn.Module, nn.Module] | None:
    """The generator and discriminator for the planned image size built on the meta device, which records
    shapes only: their factories refuse an image size they cannot make here (a RecipeError). None when the
    image size is not known before the data set is, or a plugin network needs real tensors to be built (its
    real build checks it)."""
    shape = planned_shape(recipe)
    if shape is None:
        return None
    channels, size = shape
    meta = torch.device("meta")
    try:
        with meta:
            generator, discriminator = _build_networks(
                recipe, BuildContext(seed=recipe.experiment.seed, device=meta, image_size=size, channels=channels)
            )
            _check_shapes(generator, discriminator, (channels, size, size), meta, recipe.source)
    except (NotImplementedError, RuntimeError, PluginError):
        return None
    return generator, discriminator


def stated_memory_needs(component: Component, context: BuildContext, source: str) -> list[Need]:
    """The host memory a component takes beyond what ganlab estimates itself (a data set's build, the images
    an evaluator generates at once), as its config states it for ``context`` (``memory_needs(context)``, keys
    relative to its section); nothing for a config that states none."""
    stated = getattr(component.config, "memory_needs", None)
    if stated is None:
        return []
    needs = returns.answer(
        component,
        source,
        "its config's memory_needs(context)",
        lambda: stated(context),
        "a list of ganlab.Need",
        lambda v: isinstance(v, list) and all(isinstance(need, Need) for need in v),
    )
    return [dataclasses.replace(need, key=f"{component.section}.{need.key}") for need in needs]


def memory_needs(recipe: Recipe, generator: nn.Module, discriminator: nn.Module) -> list[Need]:
    """What training the recipe holds on its device at once, estimated from networks on the meta device:
    weights with their gradients and two optimizer moments (and the EMA copy), a training step's
    activations, and the fixed-noise grid."""
    train = recipe.train
    latent = generator.latent_dim
    latents = torch.zeros(2, latent, device="meta")
    g_labels = blank_labels(2, getattr(generator, "label_space", None), latents.device)
    d_labels = blank_labels(2, getattr(discriminator, "label_space", None), latents.device)
    g_layers = layer_outputs(generator, latents, g_labels)
    with torch.no_grad():
        d_layers = layer_outputs(
            discriminator, forward(generator, latents, g_labels, is_conditional(generator)), d_labels
        )
    g_params, d_params = (sum(p.numel() for p in n.parameters()) for n in (generator, discriminator))
    ema = g_params if train.ema > 0 else 0
    image_numel = g_layers[-1] if g_layers else 0
    return [
        Need("generator", f"generator weights and optimizer state ({g_params:,} parameters)", 4 * (4 * g_params + ema)),
        Need("discriminator", f"discriminator weights and optimizer state ({d_params:,} parameters)", 4 * 4 * d_params),
        Need(
            "train.batch_size",
            f"activations of a step of {train.batch_size} images",
            4 * train.batch_size * (sum(g_layers) + 2 * sum(d_layers)),
        ),
        Need(
            "train.grid_size",
            f"the progress grid of {train.grid_size} images",
            train.grid_size * (4 * latent + 4 * 2 * max(g_layers, default=0) + image_numel),
        ),
    ]


def layer_outputs(network: nn.Module, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> list[int]:
    """Elements each innermost layer outputs, per image, in one forward pass of ``inputs`` (with
    ``labels`` for a conditional network)."""
    sizes: list[int] = []

    def record(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel() // len(inputs))

    leaves = [m for m in network.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with torch.no_grad():
            forward(network, inputs, labels, is_conditional(network))
    finally:
        for handle in handles:
            handle.remove()
    return sizes


def check_training_plan(recipe: Recipe, dataset: ImageDataset, device: torch.device, processes: int) -> None:
    """Every check of the recipe against its data set and the processes that train it, before a run
    directory is created: a refused ``run`` leaves nothing behind, and ``validate`` refuses it too."""
    train = recipe.train
    if len(dataset) == 0:
        raise DataError(f"{recipe.source}: data: the data set is empty")
    problems = []
    if len(dataset) < train.batch_size:
        problems.append(
            f"train.batch_size: {train.batch_size} is larger than the data set ({len(dataset)} images); lower it"
        )
    elif steps_per_epoch(len(dataset), train) == 0:
        problems.append(
            f"train.d_steps: {train.d_steps} discriminator batches per step need "
            f"{train.d_steps * train.batch_size} images, but the data set has {len(dataset)}"
        )
    if train.batch_size % processes:
        problems.append(
            f"train.batch_size: {train.batch_size} images cannot be split evenly over {processes} "
            "processes; make it a multiple of the process count"
        )
    if problems:
        raise RecipeError(recipe.source, problems)
    goes_to_device(dataset, device, train.data_on_device)


def steps_per_epoch(num_images: int, train: TrainConfig) -> int:
    """Generator updates per pass over ``num_images``: full batches only (the remainder of a shuffled
    epoch is left out, as DCGAN recipes do), ``d_steps`` of them per update."""
    return num_images // train.batch_size // train.d_steps


def total_steps(num_images: int, train: TrainConfig) -> int:
    """Generator updates in the whole run, ``train.max_steps`` counted."""
    planned = steps_per_epoch(num_images, train) * train.epochs
    return min(planned, train.max_steps) if train.max_steps else planned


def _build_networks(recipe: Recipe, context: BuildContext) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator for ``context``'s image shape."""
    return tuple(
        _build_network(recipe.component(role), context, recipe.source) for role in ("generator", "discriminator")
    )


def _build_network(component: Component, context: BuildContext, source: str) -> nn.Module:
    network = returns.build_instance(component, context, source)
    returns.check_network(component, network, source)
    return network


def check_conditioning(recipe: Recipe, context: BuildContext, generator: nn.Module, discriminator: nn.Module) -> None:
    """Refuse a network that takes labels (``conditional = True``) when the data set has none; say so when
    labelled data meets networks that take none, which then train unconditionally."""
    data = recipe.component("data")
    networks = {"generator": generator, "discriminator": discriminator}
    if context.label_space is None:
        problems = [
            f"{section}: {recipe.component(section).name!r} is conditional (it takes labels), but the "
            f"data set {data.name!r} has no labels; use a labelled data set or an unconditional "
            f"{section}"
            for section, network in networks.items()
            if is_conditional(network)
        ]
        if problems:
            raise RecipeError(recipe.source, problems)
    elif not any(is_conditional(network) for network in networks.values()):
        warn(
            f"{recipe.source}: data: the data set {data.name!r} has labels "
            f"({', '.join(context.label_space.names)}), but neither network takes them: training unconditionally"
        )


def _check_shapes(
    generator: nn.Module, discriminator: nn.Module, expected: tuple[int, int, int], device: torch.device, source: str
) -> None:
    """One tiny forward pass each, so a mismatch is a recipe error now rather than a crash at step 1."""
    with torch.no_grad(), preserved_buffers(generator), preserved_buffers(discriminator):
        g_labels = blank_labels(2, getattr(generator, "label_space", None), device)
        d_labels = blank_labels(2, getattr(discriminator, "label_space", None), device)
        fake = forward(
            generator, torch.zeros(2, generator.latent_dim, device=device), g_labels, is_conditional(generator)
        )
        logits = (
            forward(discriminator, fake, d_labels, is_conditional(discriminator))
            if tuple(fake.shape[1:]) == expected
            else None
        )
    if tuple(fake.shape[1:]) != expected:
        raise RecipeError(
            source, [f"generator: makes images of shape {tuple(fake.shape[1:])} but the data set has {expected}"]
        )
    if tuple(logits.shape) != (2,):
        raise RecipeError(
            source, [f"discriminator: must return one logit per image, shape (N,), got {tuple(logits.shape)} for N=2"]
        )


def _check_fits(component: Loss | Regularizer, discriminator: nn.Module, source: str) -> None:
    """Let a loss or a regularizer refuse a discriminator it cannot train (see
    :meth:`ganlab.Loss.check_discriminator`)."""
    try:
        component.check_discriminator(discriminator)
    except ConfigError as e:
        raise RecipeError(source, [f"{e.key}: {e.message}"]) from None
