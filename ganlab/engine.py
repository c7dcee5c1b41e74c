"""The one training loop: build components from a recipe, alternate D and G updates, emit run events.

Nothing here knows which generator, loss or data set it drives; it only uses the protocols in
:mod:`ganlab.protocols`. Per generator update ("step") the discriminator phase runs ``train.d_steps``
times, each on a fresh real batch and a detached fake batch; the generator phase then scores the last
fake batch again through the updated discriminator (as pytorch/examples' dcgan does, which saves one
generator forward per step), and the last real batch too only for a loss whose generator loss needs it.

Per-step numbers stay on the device and are fetched once every ``train.log_every`` steps, so the hot
loop never waits for the host; every step is still logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from . import __version__, distributed, signals
from .atomic import atomic_write_bytes
from .checkpoints import (CheckpointSchedule, check_optimizer_state, fitting, same_shape, training_state,
                          whole_number)
from .errors import ConfigError, DataError, GanlabError, PluginError, RecipeError, RunError, warn
from .data.loader import BatchLoader, free_memory, goes_to_device
from .distributed import World
from .grids import grid_png
from .memory import Need, refuse_if_too_big
from .networks import EMA, Shadow, Updater, autocast, for_training, no_sync, uncompiled, warn_if_slow
from .plugins import Plugins
from .protocols import BuildContext, EvaluationHook, ImageDataset, Loss
from .recipe import Component, Recipe, TrainConfig
from .report.build import write_report
from .runs import RunDir, now_iso
from .sampling import generate_images, preserved_buffers, sample, seeded_rng, weights_digest

METRIC_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
"""Logged every step: the two losses, and mean D(x) and D(G(z)) as the loss's scores (before the D update;
meta.json's ``scores`` says what they are: probabilities for BCE, raw critic scores for WGAN)."""


class RunInterrupted(GanlabError):
    """Ctrl-C or SIGTERM during training: the run was marked interrupted (and, on the first signal,
    checkpointed). The exit code is the shell's for the signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = signals.exit_code(signum)


class RunDiverged(GanlabError):
    """A loss became NaN or infinite; the run stops with status ``diverged``."""

    exit_code = 7


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("experiment.device", "'cuda' was asked for but no CUDA device is available")
    if setting == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("experiment.device", "'mps' was asked for but Apple's MPS is not available")
    return torch.device(setting)


def recipe_device(recipe: Recipe) -> torch.device:
    try:
        return resolve_device(recipe.experiment.device)
    except ConfigError as e:
        raise RecipeError(recipe.source, [f"{e.key}: {e.message}"]) from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


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


FORWARDED_WITHIN_S = 2.0
"""Under torchrun a stop signal sent to every process (Ctrl-C in a terminal, ``kill`` of the process group,
Slurm) reaches each training process twice: directly, and forwarded by torchrun's agent an instant later.
A repeat this soon is that copy, not a second request to stop at once."""


@dataclasses.dataclass
class StopRequest:
    """Set by the first SIGINT or SIGTERM; the loop stops at the next step boundary and checkpoints there."""

    signum: int | None = None
    at: float = 0.0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        self.signum, self.at = signum, time.monotonic()


@contextlib.contextmanager
def graceful_interrupt(stop: StopRequest, forwarded_within: float = 0.0) -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into a :class:`StopRequest`, so the interrupted checkpoint is
    written between two steps, never half way through one; a second signal interrupts at once (the run
    then resumes from its last regular checkpoint), unless it comes within ``forwarded_within`` seconds of
    the first (see :data:`FORWARDED_WITHIN_S`). Signals reach only the main thread, so elsewhere this does
    nothing."""

    def handler(signum: int, frame: Any) -> None:
        if not stop.requested:
            stop.request(signum)
        elif time.monotonic() - stop.at >= forwarded_within:
            raise signals.Stopped(signum)

    with signals.handled_by(handler):
        yield


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
    hooks: list[tuple[Component, EvaluationHook]]


def _build(component: Component, context: BuildContext, source: str) -> Any:
    try:
        return component.entry.factory(component.config, context)
    except ConfigError as e:
        key = e.key if "." in e.key else f"{component.section}.{e.key}"
        if e.key == "image_size":
            key = "data.image_size"
        raise RecipeError(source, [f"{key}: {e.message}"]) from None
    except DataError as e:
        raise DataError(f"{source}: {e}") from None


def build(recipe: Recipe, device: torch.device | None = None, processes: int = 1) -> Built:
    """Build and cross-check all components; raises a GanlabError before any training happens.

    The one check pass of every command that builds a recipe (validate, run, resume, evaluate): what
    ``run`` would refuse, ``validate`` refuses with the same message, and ``run`` refuses it before its
    run directory exists. ``processes`` is the number of training processes the batch is split over.
    """
    source = recipe.source
    seed = recipe.experiment.seed
    device = device or recipe_device(recipe)
    dataset = build_dataset(recipe, device)
    check_training_plan(recipe, dataset, device, processes)
    context = BuildContext(seed=seed, device=device, image_size=dataset.image_size, channels=dataset.channels)
    generator, discriminator = _build_networks(recipe, context)
    init = _build(recipe.component("init"), context, source)
    init(generator)
    init(discriminator)
    generator.to(device)
    discriminator.to(device)
    _check_shapes(generator, discriminator, (dataset.channels, dataset.image_size, dataset.image_size), device,
                  source)
    loss = _build_instance(recipe.component("loss"), context, source, Loss)
    _check_loss_fits(loss, discriminator, source)
    optimizer_g = _build(recipe.component("optimizer.generator"), context, source)(generator.parameters())
    optimizer_d = _build(recipe.component("optimizer.discriminator"), context, source)(discriminator.parameters())
    hooks = [(h, _build_instance(h, context, source, EvaluationHook)) for h in recipe.hooks]
    return Built(recipe, device, dataset, generator, discriminator, loss, optimizer_g, optimizer_d, hooks)


def _build_instance(component: Component, context: BuildContext, source: str, base: type) -> Any:
    """Refuse a hook or loss factory that returns something other than an instance of ``base``
    (:class:`EvaluationHook`, :class:`Loss`): the engine calls every method of the base class, defaults
    included, so a look-alike lacking one would fail mid-run, after hours of training."""
    built = _build(component, context, source)
    if not isinstance(built, base):
        raise PluginError(f"{source}: {component.section}: {component.entry.kind} {component.name!r} of plugin "
                          f"{component.entry.plugin!r} was built as a {type(built).__qualname__}, which is not a "
                          f"ganlab.{base.__name__}; its factory must return an instance of a subclass of it")
    return built


def build_dataset(recipe: Recipe, device: torch.device | None) -> ImageDataset:
    """The recipe's data set, built only once the networks accept its planned image size and what the
    recipe sizes fits in ``device``'s memory, so that nothing is decoded or allocated for a recipe that
    cannot train; nothing is decoded here either. ``device`` None (the data commands, which train
    nothing) checks the sizes but not the memory. Seeds everything first, so every build starts alike."""
    seed_everything(recipe.experiment.seed)
    check_sizes(recipe, device)
    context = BuildContext(seed=recipe.experiment.seed, device=device or torch.device("cpu"))
    return _build(recipe.component("data"), context, recipe.source)


def planned_shape(recipe: Recipe) -> tuple[int, int] | None:
    """(channels, image size) the data section asks for, known before the data set is built when its
    config has an ``image_size`` (and, unless the images are RGB, a ``channels``) setting."""
    config = recipe.component("data").config
    size, channels = getattr(config, "image_size", None), getattr(config, "channels", 3)
    return (channels, size) if isinstance(size, int) and isinstance(channels, int) else None


def check_sizes(recipe: Recipe, device: torch.device | None) -> None:
    """Let the networks refuse the planned image size, and refuse what cannot fit in ``device``'s memory
    (None: no memory check), with nothing allocated: the networks are built on the meta device, which
    records shapes only."""
    shape = planned_shape(recipe)
    if shape is None:
        return
    channels, size = shape
    meta = torch.device("meta")
    try:
        with meta:
            generator, discriminator = _build_networks(recipe, BuildContext(
                seed=recipe.experiment.seed, device=meta, image_size=size, channels=channels))
            _check_shapes(generator, discriminator, (channels, size, size), meta, recipe.source)
    except (NotImplementedError, RuntimeError):
        return      # a plugin network that needs real tensors to be built: its real build checks it
    if device is None:
        return
    try:
        refuse_if_too_big(memory_needs(recipe, generator, discriminator), free_memory(device),
                          "GPU memory" if device.type == "cuda" else "memory")
    except ConfigError as e:
        raise RecipeError(recipe.source, [f"{e.key}: {e.message}"]) from None


def memory_needs(recipe: Recipe, generator: nn.Module, discriminator: nn.Module) -> list[Need]:
    """What training the recipe holds on its device at once, estimated from networks on the meta device:
    weights with their gradients and two optimizer moments (and the EMA copy), a training step's
    activations, and the fixed-noise grid."""
    train = recipe.train
    latent = generator.latent_dim
    latents = torch.zeros(2, latent, device="meta")
    g_layers = layer_outputs(generator, latents)
    with torch.no_grad():
        d_layers = layer_outputs(discriminator, generator(latents))
    g_params, d_params = (sum(p.numel() for p in n.parameters()) for n in (generator, discriminator))
    ema = g_params if train.ema > 0 else 0
    image_numel = g_layers[-1] if g_layers else 0
    return [
        Need("generator", f"generator weights and optimizer state ({g_params:,} parameters)",
             4 * (4 * g_params + ema)),
        Need("discriminator", f"discriminator weights and optimizer state ({d_params:,} parameters)",
             4 * 4 * d_params),
        Need("train.batch_size", f"activations of a step of {train.batch_size} images",
             4 * train.batch_size * (sum(g_layers) + 2 * sum(d_layers))),
        Need("train.grid_size", f"the progress grid of {train.grid_size} images",
             train.grid_size * (4 * latent + 4 * 2 * max(g_layers, default=0) + image_numel)),
    ]


def layer_outputs(network: nn.Module, inputs: torch.Tensor) -> list[int]:
    """Elements each innermost layer outputs, per image, in one forward pass of ``inputs``."""
    sizes: list[int] = []

    def record(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel() // len(inputs))

    leaves = [m for m in network.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with torch.no_grad():
            network(inputs)
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
        problems.append(f"train.batch_size: {train.batch_size} is larger than the data set ({len(dataset)} "
                        "images); lower it")
    elif steps_per_epoch(len(dataset), train) == 0:
        problems.append(f"train.d_steps: {train.d_steps} discriminator batches per step need "
                        f"{train.d_steps * train.batch_size} images, but the data set has {len(dataset)}")
    if train.batch_size % processes:
        problems.append(f"train.batch_size: {train.batch_size} images cannot be split evenly over {processes} "
                        "processes; make it a multiple of the process count")
    if problems:
        raise RecipeError(recipe.source, problems)
    goes_to_device(dataset, device, train.data_on_device)


def steps_per_epoch(num_images: int, train: TrainConfig) -> int:
    """Generator updates per pass over ``num_images``: full batches only (the remainder of a shuffled
    epoch is left out, as DCGAN recipes do), ``d_steps`` of them per update."""
    return num_images // train.batch_size // train.d_steps


def _build_networks(recipe: Recipe, context: BuildContext) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator for ``context``'s image shape."""
    return (_build(recipe.component("generator"), context, recipe.source),
            _build(recipe.component("discriminator"), context, recipe.source))


def _check_shapes(generator: nn.Module, discriminator: nn.Module, expected: tuple[int, int, int],
                  device: torch.device, source: str) -> None:
    """One tiny forward pass each, so a mismatch is a recipe error now rather than a crash at step 1."""
    with torch.no_grad(), preserved_buffers(generator), preserved_buffers(discriminator):
        fake = generator(torch.zeros(2, generator.latent_dim, device=device))
        logits = discriminator(fake) if tuple(fake.shape[1:]) == expected else None
    if tuple(fake.shape[1:]) != expected:
        raise RecipeError(source, [f"generator: makes images of shape {tuple(fake.shape[1:])} but the data "
                                   f"set has {expected}"])
    if tuple(logits.shape) != (2,):
        raise RecipeError(source, [f"discriminator: must return one logit per image, shape (N,), "
                                   f"got {tuple(logits.shape)} for N=2"])


def _check_loss_fits(loss: Loss, discriminator: nn.Module, source: str) -> None:
    """Let a loss refuse a discriminator it cannot train (see :class:`ganlab.protocols.Loss`)."""
    try:
        loss.check_discriminator(discriminator)
    except ConfigError as e:
        raise RecipeError(source, [f"{e.key}: {e.message}"]) from None


def environment(plugins: Plugins) -> dict[str, Any]:
    import torchvision

    return {
        "ganlab": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "plugins": {p.name: p.version or ("built-in" if p.builtin else "unknown") for p in plugins.infos},
    }


class Run:
    """A live training run. Hooks see it as a :class:`ganlab.RunView`, which names what they may use;
    everything else here is the engine's own."""

    def __init__(self, built: Built, run_dir: RunDir, plugins: Plugins, progress: bool = True,
                 world: World = World()):
        self.built = built
        self.recipe = built.recipe
        self.run_dir = run_dir
        self.plugins = plugins
        self.world = world
        self.device = built.device
        self.dataset = built.dataset
        self.progress = progress and world.is_main
        train = self.recipe.train
        seed = self.recipe.experiment.seed
        self.loader = BatchLoader(self.dataset, train.batch_size, seed, train.num_workers,
                                  shard=(world.rank, world.size), device=self.device,
                                  residency=train.data_on_device)
        self.steps_per_epoch = steps_per_epoch(len(self.dataset), train)
        self.total_steps = self.steps_per_epoch * train.epochs
        if train.max_steps:
            self.total_steps = min(self.total_steps, train.max_steps)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True     # fixed shapes every step: pick the fastest kernels once
        if train.channels_last:       # before any copy is taken, so the EMA's weights share the live layout
            for network in (built.generator, built.discriminator):
                network.to(memory_format=torch.channels_last)
        self.ema = EMA(built.generator, train.ema) if train.ema > 0 else None
        synced = train.sync_batchnorm and world.distributed
        self._shadows = (Shadow(built.generator), Shadow(built.discriminator)) if synced else None
        wrap = dict(sync_batchnorm=train.sync_batchnorm, compile=train.compile)
        self._train_g, self.generator = for_training(built.generator, world, self.device, **wrap)
        self._train_d, self.discriminator = for_training(built.discriminator, world, self.device, **wrap)
        self.update_g = Updater.create(built.optimizer_g, train.precision, self.device)
        self.update_d = Updater.create(built.optimizer_d, train.precision, self.device)
        self.fixed_noise = torch.randn(train.grid_size, self.generator.latent_dim,
                                       generator=torch.Generator().manual_seed(seed + 1)).to(self.device)
        self.noise_rng = torch.Generator(self.device).manual_seed(seed + 2)
        self.step = 0
        self.epochs_completed = 0     # full passes over the data
        self.batch_in_epoch = 0       # batches of the current epoch already consumed
        self._pending: list[tuple[int, int, torch.Tensor]] = []
        self._started = time.monotonic()
        self._elapsed_before = 0.0
        self.schedule = CheckpointSchedule(self.recipe.checkpoint)
        self.stop = StopRequest()
        self._latest_evaluation: dict[str, tuple[int, float]] = {}   # metric -> (step, value)

    @property
    def epoch(self) -> int:
        """The epoch of the latest step, from 1, as ``metrics.jsonl`` numbers it: the epoch in progress, or
        the one just completed between two epochs (in ``on_epoch_end`` it equals that event's ``epoch``);
        1 before the first step. :attr:`epochs_completed` counts the full passes."""
        if self.batch_in_epoch == 0 and self.epochs_completed > 0:
            return self.epochs_completed
        return self.epochs_completed + 1

    @property
    def sampler(self) -> nn.Module:
        """The generator that makes samples and metrics: the EMA weights when ``train.ema`` is on."""
        if self.ema is not None:
            return self.ema.module
        return self._shadows[0].current(self.generator) if self._shadows else self.generator

    @property
    def judge(self) -> nn.Module:
        """The discriminator for evaluation (``discriminate``), safe to run in the main process alone."""
        return self._shadows[1].current(self.discriminator) if self._shadows else self.discriminator

    # -- what hooks use ---------------------------------------------------------------------------------
    def generate(self, num: int, seed: int, batch_size: int = 256) -> torch.Tensor:
        """``num`` generated images as uint8 (N, C, H, W) on the CPU.

        The seed is required: drawing from the training latents instead would change training, and under
        several processes would set the main process's latents apart from the others'.
        """
        return generate_images(self.sampler, num, seeded_rng(seed), self.device, batch_size)

    def sampling_weights_digest(self) -> str:
        """What decides :meth:`generate`'s images besides its arguments (see :class:`ganlab.RunView`)."""
        return weights_digest(self.sampler)

    def real_images(self, num: int, seed: int = 0) -> torch.Tensor:
        """``num`` training images as uint8 (N, C, H, W), the same ones for the same seed."""
        indices = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(seed))[:num]
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return get_batch(indices)
        return torch.stack([self.dataset[int(i)] for i in indices])

    @torch.no_grad()
    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        """The loss's score of each uint8 image (:meth:`Loss.scores`: for BCE D's probability that it is
        real, for WGAN the critic's raw output), as float32 (N,) on the CPU.

        Scored as the training step scores a batch: in training mode (batch norm normalises with the
        statistics of the images given, so score real and generated images in separate calls), in fp32,
        without gradients. The discriminator is left as it was: its buffers (batch-norm running statistics,
        spectral-norm vectors) are put back and so are torch's random states, which dropout would draw from.
        """
        judge = self.judge
        with preserved_buffers(judge), self._own_random_numbers():
            logits = judge(to_model_range(images.to(self.device)))
        return self.built.loss.scores(logits.float()).cpu()

    def _own_random_numbers(self) -> contextlib.AbstractContextManager[None]:
        """Torch's random states (this run's GPU's too) put back afterwards, so training never sees the draws."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def log_evaluation(self, metric: str, value: float, **details: Any) -> None:
        """Record one evaluation result (with its protocol in ``details``) in evaluations.jsonl."""
        record = {"metric": metric, "value": float(value), "step": self.step, "epoch": self.epoch,
                  "time": now_iso(), **details}
        self.run_dir.append_jsonl("evaluations.jsonl", [record])
        self._latest_evaluation[metric] = (self.step, float(value))

    @property
    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._started

    # -- the loop ---------------------------------------------------------------------------------------
    def _latents(self, n_local: int) -> torch.Tensor:
        """This process's share of the global batch of latents."""
        return distributed.draw_for_global_batch(
            lambda n: torch.randn(n, self.generator.latent_dim, device=self.device, generator=self.noise_rng),
            n_local, self.world)

    def train_step(self, real_batches: list[torch.Tensor]) -> torch.Tensor:
        """One generator update, after ``train.d_steps`` discriminator updates, one per real batch; returns
        the step's :data:`METRIC_KEYS` numbers on the device, for the loop to fetch with others in one transfer."""
        loss = self.built.loss
        precision = self.recipe.train.precision
        memory_format = torch.channels_last if self.recipe.train.channels_last else torch.contiguous_format
        for i, real_u8 in enumerate(real_batches):
            real = to_model_range(real_u8.to(self.device, non_blocking=True)).contiguous(
                memory_format=memory_format)
            z = self._latents(real.shape[0])
            with torch.set_grad_enabled(i == len(real_batches) - 1), autocast(precision, self.device):
                fake = self._train_g(z)
            with autocast(precision, self.device):
                real_logits = self._train_d(real).float()
                fake_logits = self._train_d(fake.detach()).float()
            loss_d = loss.discriminator_loss(real_logits, fake_logits)
            penalty = loss.penalty(uncompiled(self._train_d), real, fake.detach().float())  # fp32: see Loss
            if penalty is not None:
                loss_d = loss_d + penalty
            self.update_d.step(loss_d)
        with no_sync(self._train_d), autocast(precision, self.device):
            gen_logits = self._train_d(fake).float()
            with torch.no_grad():
                real_again = self._train_d(real).float() if loss.generator_needs_real else None
        loss_g = loss.generator_loss(gen_logits, real_again)
        self.update_g.step(loss_g)
        if self.ema is not None:
            self.ema.update(self.generator)
        with torch.no_grad():
            return torch.stack([loss_d.detach(), loss_g.detach(),
                                loss.scores(real_logits.detach()).mean(),
                                loss.scores(fake_logits.detach()).mean()]).float()

    def _flush(self, bar: Any) -> None:
        """Fetch the pending per-step numbers in one transfer, log them, tell hooks, check for divergence."""
        if not self._pending:
            return
        values = distributed.mean(self.world, torch.stack([t for _, _, t in self._pending])).cpu().tolist()
        elapsed = round(self.elapsed, 3)
        records = [{"step": step, "epoch": epoch, **dict(zip(METRIC_KEYS, row)), "time": elapsed}
                   for (step, epoch, _), row in zip(self._pending, values)]
        self._pending.clear()
        if self.world.is_main:
            self.run_dir.append_jsonl("metrics.jsonl", records)
        with self._hooks() as hooks:
            for record in records:
                for hook in hooks:
                    hook.on_step_end(self, record)
        last = records[-1]
        if bar is not None:
            bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}",
                            d_real=f"{last['d_real']:.2f}", d_fake=f"{last['d_fake']:.2f}", refresh=False)
        bad = next((r for r in records if not all(math.isfinite(r[k]) for k in METRIC_KEYS)), None)
        if bad is not None:
            raise RunDiverged(f"losses became non-finite at step {bad['step']} (loss_d={bad['loss_d']}, "
                              f"loss_g={bad['loss_g']}); the last good checkpoint is kept")

    def train(self) -> None:
        """Train from the current position to ``total_steps``; an epoch's end writes a grid and checkpoint.

        When :attr:`stop` is requested (the first SIGINT or SIGTERM), training stops at the end of the step
        in progress (under torchrun, of the next step all processes agree on: :meth:`_stop_agreed`) with an
        ``interrupted_step_*`` checkpoint and raises :class:`~ganlab.signals.Stopped`.
        """
        train = self.recipe.train
        batches_per_epoch = self.steps_per_epoch * train.d_steps
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                       file=sys.stderr, desc=self.run_dir.name)
        try:
            with self._hooks() as hooks:
                for hook in hooks:
                    hook.on_run_start(self)
            while self.step < self.total_steps:
                batches = self.loader.epoch(self.epochs_completed, start=self.batch_in_epoch)
                while self.batch_in_epoch < batches_per_epoch and self.step < self.total_steps:
                    stats = self.train_step(self._next_batches(batches, train.d_steps))
                    self.step += 1
                    self.batch_in_epoch += train.d_steps
                    self._pending.append((self.step, self.epoch, stats))
                    if bar is not None:
                        bar.update(1)
                    if self.step % train.log_every == 0:
                        self._flush(bar)
                    self._checkpoint_between_epochs(batches_per_epoch, bar)
                self._flush(bar)
                completed = self.batch_in_epoch >= batches_per_epoch
                if completed:
                    self.epochs_completed += 1
                    self.batch_in_epoch = 0
                self._end_epoch(completed)
        finally:
            if bar is not None:
                bar.close()

    def _checkpoint_between_epochs(self, batches_per_epoch: int, bar: Any) -> None:
        """The checkpoints a step may call for: the one asked for by a stop signal, or a scheduled one."""
        if self._stop_agreed():
            self._flush(bar)
            self.save_checkpoint(f"interrupted_step_{self.step:08d}.pt")
            raise signals.Stopped(self.stop.signum)
        ends_epoch = self.batch_in_epoch >= batches_per_epoch or self.step >= self.total_steps
        if not ends_epoch and self._checkpoint_due():
            self._flush(bar)
            self.save_checkpoint(f"step_{self.step:08d}.pt")

    def _stop_agreed(self) -> bool:
        """Whether to stop after this step. Alone, as soon as a signal asked for it. Under torchrun every
        process must stop at the same step, or the others would wait for it in a collective forever; a
        signal may reach them at different steps, or only some of them, so they stop when any has been
        asked to, deciding together every ``log_every`` steps to keep the other steps free of collectives.
        """
        if not self.world.distributed:
            return self.stop.requested
        if self.step % self.recipe.train.log_every:
            return False
        signum = distributed.largest(self.world, self.stop.signum or 0, self.device)
        if signum and not self.stop.requested:
            self.stop.request(signum)
        return bool(signum)

    def _checkpoint_due(self) -> bool:
        """Whether the ``[checkpoint]`` schedule asks for one after this step.

        Every process must decide alike, since writing a checkpoint involves collectives. The step count
        is the same everywhere; the clock is not, so the main process's reading is broadcast, and only every
        ``log_every`` steps, so that other steps stay free of collectives and host syncs.
        """
        if self.schedule.due_by_steps(self.step):
            return True
        if not self.schedule.timed or self.step % self.recipe.train.log_every:
            return False
        return distributed.agree(self.world, self.schedule.due_by_clock())

    def _next_batches(self, batches: Iterator[torch.Tensor], count: int) -> list[torch.Tensor]:
        """The next ``count`` real batches; a data set that fails to deliver one is a data error, not a crash."""
        try:
            return [next(batches) for _ in range(count)]
        except GanlabError:
            raise
        except Exception as e:
            message = str(e).strip().splitlines()[-1] if str(e).strip() else ""
            raise DataError(f"data: reading a batch of epoch {self.epochs_completed + 1} failed: "
                            f"{type(e).__name__}: {message}") from None

    @contextlib.contextmanager
    def _hooks(self) -> Iterator[list[EvaluationHook]]:
        """The evaluation hooks, to call in the main process only (which alone writes the run directory),
        with torch's random states put back once they are done.

        Training must not depend on what hooks draw (torch's DataLoader takes a seed from the global
        generator for every Inception pass); and only so do all processes keep equal states, which
        :func:`~ganlab.distributed.draw_for_global_batch` relies on.
        """
        if not self.world.is_main:
            yield []
            return
        with self._own_random_numbers():
            yield [hook for _, hook in self.built.hooks]

    def _end_epoch(self, completed: bool) -> None:
        """Progress grid, hooks, checkpoint; hooks hear about completed epochs only.

        The checkpoint comes after the hooks so that it holds what they computed for this epoch: a run
        resumed from it neither repeats nor loses an evaluation. A run stopped by ``max_steps`` part way
        through an epoch still gets a grid (named after the epoch in progress) and a checkpoint named
        after its step.
        """
        if not self.world.is_main:
            return
        number = self.epoch
        self.save_grid(self.run_dir.grid_path(number))
        if completed:
            with self._hooks() as hooks:
                for hook in hooks:
                    hook.on_epoch_end(self, number)
        self.save_checkpoint(f"epoch_{number:04d}.pt" if completed else f"step_{self.step:08d}.pt")
        self.run_dir.update_meta(steps=self.step, epochs_completed=self.epochs_completed,
                                 elapsed_s=round(self.elapsed, 3))

    def save_grid(self, path: Path) -> None:
        """The fixed-noise progress grid, drawn by the rule every generated image follows
        (:func:`ganlab.sampling.sample`), so it shows what ``generate`` and ``compare`` show for its latents."""
        atomic_write_bytes(path, grid_png(sample(self.sampler, self.fixed_noise)))

    # -- checkpoints --------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: state dicts, counters and RNG states; plain values only.

        One flat dict, so later features add their own keys (an EMA generator, a grad scaler) beside these.
        """
        np_state = np.random.get_state()
        state = {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.update_g.optimizer.state_dict(),
            "optimizer_d": self.update_d.optimizer.state_dict(),
            "step": self.step, "epoch": self.epochs_completed, "batch_in_epoch": self.batch_in_epoch,
            "elapsed_s": self.elapsed,
            "fixed_noise": self.fixed_noise.cpu(),
            "device": self.device.type,
            "rng": {
                "noise": self.noise_rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": cuda_rng_state(self.device),
                "numpy": {"key": np_state[0], "state": torch.from_numpy(np_state[1].astype(np.int64)),
                          "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                          "cached_gaussian": float(np_state[4])},
                "python": list(random.getstate()[1]),
                "python_version": random.getstate()[0],
                "python_gauss": random.getstate()[2],
            },
            "recipe": self.recipe.to_dict(),
            "image_shape": [self.dataset.channels, self.dataset.image_size, self.dataset.image_size],
            "hooks": {component.section: hook.state_dict() for component, hook in self.built.hooks},
        }
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
        for key, updater in (("scaler_g", self.update_g), ("scaler_d", self.update_d)):
            if updater.scaler is not None:
                state[key] = updater.scaler.state_dict()
        return state

    def load_state(self, state: dict[str, Any], source: Path) -> bool:
        """Put the run where :meth:`state` found it: weights, optimizers, counters, RNGs, hooks.

        Returns whether it continues exactly. A checkpoint written on another kind of device (a GPU run
        continued on a CPU) holds a latent generator whose state this device's cannot take, so the latents
        are drawn from the run's seed afresh; everything else carries over. A part that does not fit what
        this recipe builds is a CheckpointError naming ``source`` (the checkpoint file) and the part.
        """
        state = training_state(state, source)
        for key, network in (("generator", self.generator), ("discriminator", self.discriminator)):
            with fitting(source, key, f"the {self.recipe.component(key).name!r} {key} installed here"):
                network.load_state_dict(state[key])
        for key, role in (("optimizer_g", "generator"), ("optimizer_d", "discriminator")):
            optimizer = getattr(self.built, key)
            with fitting(source, key, f"the {self.recipe.component(f'optimizer.{role}').name!r} optimizer of "
                                      f"the {role} installed here"):
                optimizer.load_state_dict(state[key])
                check_optimizer_state(optimizer, getattr(self.built, role))
        # the checkpoint's "epoch" counts completed epochs
        for key, attribute in (("step", "step"), ("epoch", "epochs_completed"), ("batch_in_epoch", "batch_in_epoch")):
            with fitting(source, key, "a counter of the run"):
                setattr(self, attribute, whole_number(state[key]))
        with fitting(source, "elapsed_s", "the run's training time in seconds"):
            self._elapsed_before, self._started = float(state["elapsed_s"]), time.monotonic()
        with fitting(source, "fixed_noise", "the recipe's grid of latent vectors"):
            self.fixed_noise = same_shape(state["fixed_noise"], self.fixed_noise).to(self.device)
        with fitting(source, "rng", "this machine's random generators"):
            same_device = written_on(state) == self.device.type
            self._restore_rng(state["rng"], same_device)
        if self.ema is not None:
            with fitting(source, "ema", "the averaged generator that train.ema keeps"):
                self.ema.module.load_state_dict(state["ema"])
        for key, updater in (("scaler_g", self.update_g), ("scaler_d", self.update_d)):
            if updater.scaler is not None:
                with fitting(source, key, "the gradient scaler of train.precision"):
                    updater.scaler.load_state_dict(state[key])
        for component, hook in self.built.hooks:
            with fitting(source, "hooks", f"the {component.name!r} hook of {component.section}"):
                hook.load_state_dict(state["hooks"].get(component.section, {}))
        return same_device

    def _restore_rng(self, rng: dict[str, Any], same_device: bool) -> None:
        if same_device:
            self.noise_rng.set_state(rng["noise"])
            restore_cuda_rng_state(self.device, rng["cuda"])
        torch.set_rng_state(rng["torch"])
        numpy_rng = rng["numpy"]
        np.random.set_state((numpy_rng["key"], numpy_rng["state"].numpy().astype(np.uint32), numpy_rng["pos"],
                             numpy_rng["has_gauss"], numpy_rng["cached_gaussian"]))
        random.setstate((rng["python_version"], tuple(rng["python"]), rng["python_gauss"]))

    def save_checkpoint(self, filename: str) -> Path | None:
        """Write a checkpoint with the best-metric score it earned at this step, then apply retention.

        Only the main process writes; the others hold the same state."""
        if not self.world.is_main:
            return None
        config = self.recipe.checkpoint
        scored = self._latest_evaluation.get(config.best_metric)
        metric = scored[1] if scored is not None and scored[0] == self.step else None
        path = self.run_dir.save_checkpoint(filename, self.state(), metric)
        self.run_dir.checkpoint_store.prune(config)
        self.schedule.written()
        return path


def start_meta(run: Run, plugins: Plugins) -> dict[str, Any]:
    recipe = run.recipe
    return {
        "name": run.run_dir.name, "experiment": recipe.experiment.name, "status": "running",
        "recipe_source": recipe.source, "overrides": list(recipe.overrides),
        "created": now_iso(), "started": now_iso(), "ended": None,
        "seed": recipe.experiment.seed, "device": str(run.device),
        "device_name": torch.cuda.get_device_name(run.device) if run.device.type == "cuda" else "cpu",
        "batch_size": recipe.train.batch_size, "d_steps": recipe.train.d_steps,
        "steps": 0, "total_steps": run.total_steps, "epochs_completed": 0, "epochs": recipe.train.epochs,
        "versions": environment(plugins), "scores": run.built.loss.score_kind.to_dict(),
        "plugin_failures": [f.message() for f in plugins.failures],
        "error": None,
    }


def run_recipe(recipe: Recipe, plugins: Plugins, out: Path, name: str | None = None,
               progress: bool = True) -> RunDir:
    """Build everything, create the run directory, train, and leave the directory complete.

    The run ends with status finished, interrupted (SIGINT or SIGTERM: a checkpoint is written first, at
    the first step when the signal came while the run was set up), diverged, or failed (with the error
    recorded); in every case meta.json says so and the end-of-run hooks run.
    """
    world, device = distributed.join(recipe_device(recipe))
    built = build(recipe, device, world.size)
    run_dir = RunDir.create(out, name or recipe.experiment.name) if world.is_main else None
    path = distributed.broadcast(world, run_dir.path if run_dir else None)
    run_dir = run_dir or RunDir(path)
    with signals.held() as received:   # never a run directory without its meta.json: stop at the first step
        run = Run(built, run_dir, plugins, progress, world)
        if world.is_main:
            run_dir.recipe_path.write_text(recipe.to_toml(), "utf-8")
            run_dir.write_meta(start_meta(run, plugins))
    if received:
        run.stop.request(received[0])
    execute(run)
    return run_dir


def execute(run: Run) -> None:
    """Train ``run`` from where it stands and record how it ended; shared by new and resumed runs.

    A precision this device would run slowly is warned about first.

    A full disk or an unwritable run directory becomes a RunError; the checkpoints written before it
    stay intact.
    """
    if run.world.is_main:
        warn_if_slow(run.recipe.train.precision, run.device)
    status, error, finished = "failed", None, False
    try:
        with graceful_interrupt(run.stop, FORWARDED_WITHIN_S if run.world.distributed else 0.0):
            run.train()
        status, finished = "finished", True
    except KeyboardInterrupt as e:
        signum = signals.signal_of(e)
        status = "interrupted"
        error = f"interrupted by {signals.describe(signum)} at step {run.step}"
        raise RunInterrupted(f"run interrupted by {signals.describe(signum)} at step {run.step}; continue it "
                             f"with: ganlab run --resume {run.run_dir.path}", signum) from None
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
                finish(run, status, error)
        except OSError as e:
            if finished:       # otherwise the error that stopped training is the one to report
                raise RunError(f"cannot record the end of run {str(run.run_dir.path)!r}: "
                               f"{e.strerror or e}") from None
        finally:
            distributed.shutdown()


def finish(run: Run, status: str, error: str | None) -> None:
    """Record how the run ended, let every hook write its final data, write the report.

    Never masks the original error: a hook or report failure is recorded in meta.json instead. A stop
    signal while the hooks run (an end-of-run evaluation can take minutes) skips the remaining hooks and
    marks a finished run interrupted; meta.json and the report are still written, a first signal while they are
    held until they are, and the signal is raised again afterwards.
    """
    meta_changes = {"status": status, "ended": now_iso(), "steps": run.step, "epochs_completed": run.epochs_completed,
                    "elapsed_s": round(run.elapsed, 3), "error": error}
    images = run.step * run.recipe.train.batch_size * run.recipe.train.d_steps
    meta_changes["images_per_s"] = round(images / run.elapsed, 2) if run.elapsed > 0 else None
    hook_errors, stopped = [], None
    try:
        for component, hook in run.built.hooks:
            try:
                hook.on_run_end(run, status)
            except Exception as e:  # a broken hook must not lose the run's status
                hook_errors.append(f"{component.section} ({component.name}): {type(e).__name__}: {e}")
                warn(f"hook {hook_errors[-1]} (at the end of the run; recorded in meta.json)")
    except KeyboardInterrupt as e:
        stopped = e
        cut_short = f"interrupted by {signals.describe(signals.signal_of(e))} while the end-of-run hooks ran"
        if status == "finished":
            meta_changes.update(status="interrupted", error=cut_short)
        else:               # a failed or diverged run stays so; the signal only cut its hooks short
            hook_errors.append(cut_short)
    if hook_errors:
        meta_changes["hook_errors"] = hook_errors
    with signals.deferred():
        try:
            run.run_dir.update_meta(**meta_changes)
            try:
                write_report(run.run_dir, run.plugins.registry)
            except Exception as e:  # the report is derived and rebuildable; the run's outcome is not
                run.run_dir.update_meta(report_error=f"{type(e).__name__}: {e}")
                warn(f"the report of {str(run.run_dir.path)!r} could not be written ({type(e).__name__}: {e}); "
                     f"the run is recorded; try again with: ganlab report {run.run_dir.path}")
        finally:
            run.run_dir.unlock()
    if stopped is not None:
        raise stopped
