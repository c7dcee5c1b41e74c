"""The one training loop: build components from a recipe, alternate D and G updates, emit run events.

Nothing here knows which generator, loss or data set it drives; it only uses the protocols in
:mod:`ganlab.protocols`. Per generator update ("step") the discriminator phase runs ``train.d_steps``
times, each on a fresh real batch and a detached fake batch; the generator phase then scores the last
fake batch again through the updated discriminator (as pytorch/examples' dcgan does, which saves one
generator forward per step).

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
import torchvision.utils as vutils
from torch import nn

from . import __version__
from .errors import ConfigError, DataError, GanlabError, RecipeError
from .data.loader import BatchLoader
from .plugins import Plugins
from .protocols import BuildContext, EvaluationHook, ImageDataset, Loss
from .recipe import Component, Recipe
from .report.build import write_report
from .runs import RunDir, now_iso

METRIC_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
"""Logged every step: the two losses, and mean D(x) and D(G(z)) as probabilities (before the D update)."""


class RunInterrupted(GanlabError):
    """Ctrl-C during training: the run was checkpointed and marked interrupted."""

    exit_code = 130


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 [0, 255], rounded (what image files and metrics expect)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


@contextlib.contextmanager
def preserved_buffers(module: nn.Module) -> Iterator[None]:
    """Run ``module`` for sampling without changing its state (batch-norm running statistics).

    DCGAN samples are drawn in training mode, with the batch's own statistics, as the reference
    implementation does; restoring the buffers keeps sampling from influencing training, so a run's
    result does not depend on how often it was looked at.
    """
    saved = [b.detach().clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved):
                buffer.copy_(value)


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


def build(recipe: Recipe, device: torch.device | None = None) -> Built:
    """Build and cross-check all components; raises a GanlabError before any training happens."""
    source = recipe.source
    seed = recipe.experiment.seed
    if device is None:
        try:
            device = resolve_device(recipe.experiment.device)
        except ConfigError as e:
            raise RecipeError(source, [f"{e.key}: {e.message}"]) from None
    seed_everything(seed)
    context = BuildContext(seed=seed, device=device)
    dataset = _build(recipe.component("data"), context, source)
    if len(dataset) == 0:
        raise DataError(f"{source}: data: the data set is empty")
    if len(dataset) < recipe.train.batch_size:
        raise RecipeError(source, [f"train.batch_size: {recipe.train.batch_size} is larger than the data set "
                                   f"({len(dataset)} images); lower it"])
    context = dataclasses.replace(context, image_size=dataset.image_size, channels=dataset.channels)
    generator = _build(recipe.component("generator"), context, source)
    discriminator = _build(recipe.component("discriminator"), context, source)
    init = _build(recipe.component("init"), context, source)
    init(generator)
    init(discriminator)
    generator.to(device)
    discriminator.to(device)
    _check_shapes(generator, discriminator, dataset, device, source)
    loss = _build(recipe.component("loss"), context, source)
    optimizer_g = _build(recipe.component("optimizer.generator"), context, source)(generator.parameters())
    optimizer_d = _build(recipe.component("optimizer.discriminator"), context, source)(discriminator.parameters())
    hooks = [(h, _build(h, context, source)) for h in recipe.hooks]
    return Built(recipe, device, dataset, generator, discriminator, loss, optimizer_g, optimizer_d, hooks)


def _check_shapes(generator: nn.Module, discriminator: nn.Module, dataset: ImageDataset,
                  device: torch.device, source: str) -> None:
    """One tiny forward pass each, so a mismatch is a recipe error now rather than a crash at step 1."""
    expected = (dataset.channels, dataset.image_size, dataset.image_size)
    with torch.no_grad(), preserved_buffers(generator), preserved_buffers(discriminator):
        fake = generator(torch.zeros(2, generator.latent_dim, device=device))
        logits = discriminator(fake) if tuple(fake.shape[1:]) == expected else None
    if tuple(fake.shape[1:]) != expected:
        raise RecipeError(source, [f"generator: makes images of shape {tuple(fake.shape[1:])} but the data "
                                   f"set has {expected}"])
    if tuple(logits.shape) != (2,):
        raise RecipeError(source, [f"discriminator: must return one logit per image, shape (N,), "
                                   f"got {tuple(logits.shape)} for N=2"])


def environment(plugins: Plugins) -> dict[str, Any]:
    import torchvision

    return {
        "ganlab": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "plugins": {p.name: p.version or ("built-in" if p.builtin else "unknown") for p in plugins.infos},
    }


class Run:
    """A live training run: what evaluation hooks see.

    Hooks may read ``recipe``, ``run_dir``, ``device``, ``generator``, ``discriminator``, ``dataset``,
    ``fixed_noise``, ``step``, ``epoch`` and ``steps_per_epoch``, and call :meth:`generate`,
    :meth:`real_images`, :meth:`discriminate` and :meth:`log_evaluation`.
    """

    def __init__(self, built: Built, run_dir: RunDir, plugins: Plugins, progress: bool = True):
        self.built = built
        self.recipe = built.recipe
        self.run_dir = run_dir
        self.plugins = plugins
        self.device = built.device
        self.generator = built.generator
        self.discriminator = built.discriminator
        self.dataset = built.dataset
        self.progress = progress
        train = self.recipe.train
        seed = self.recipe.experiment.seed
        self.loader = BatchLoader(self.dataset, train.batch_size, seed, train.num_workers)
        self.steps_per_epoch = len(self.loader) // train.d_steps
        if self.steps_per_epoch == 0:
            raise RecipeError(self.recipe.source, [
                f"train.d_steps: {train.d_steps} discriminator batches per step need "
                f"{train.d_steps * train.batch_size} images, but the data set has {len(self.dataset)}"])
        self.total_steps = self.steps_per_epoch * train.epochs
        if train.max_steps:
            self.total_steps = min(self.total_steps, train.max_steps)
        latent_dim = self.generator.latent_dim
        self.fixed_noise = torch.randn(train.grid_size, latent_dim,
                                       generator=torch.Generator().manual_seed(seed + 1)).to(self.device)
        self.noise_rng = torch.Generator(self.device).manual_seed(seed + 2)
        self.step = 0
        self.epoch = 0                # completed epochs
        self.batch_in_epoch = 0       # batches of the current epoch already consumed
        self._pending: list[tuple[int, int, torch.Tensor]] = []
        self._started = time.monotonic()
        self._elapsed_before = 0.0

    # -- what hooks use ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, num: int, seed: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """``num`` generated images as uint8 (N, C, H, W) on the CPU, without disturbing training state."""
        rng = torch.Generator(self.device).manual_seed(seed) if seed is not None else self.noise_rng
        out = []
        with preserved_buffers(self.generator):
            for start in range(0, num, batch_size):
                n = min(batch_size, num - start)
                z = torch.randn(n, self.generator.latent_dim, device=self.device, generator=rng)
                out.append(to_uint8(self.generator(z)).cpu())
        return torch.cat(out)

    def real_images(self, num: int, seed: int = 0) -> torch.Tensor:
        """``num`` training images as uint8 (N, C, H, W), the same ones for the same seed."""
        indices = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(seed))[:num]
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return get_batch(indices)
        return torch.stack([self.dataset[int(i)] for i in indices])

    @torch.no_grad()
    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        """D's probability that each uint8 image is real, as float (N,) on the CPU."""
        with preserved_buffers(self.discriminator):
            logits = self.discriminator(to_model_range(images.to(self.device)))
        return torch.sigmoid(logits.float()).cpu()

    def log_evaluation(self, metric: str, value: float, **details: Any) -> None:
        """Record one evaluation result (with its protocol in ``details``) in evaluations.jsonl."""
        record = {"metric": metric, "value": float(value), "step": self.step, "epoch": self.epoch,
                  "time": now_iso(), **details}
        self.run_dir.append_jsonl("evaluations.jsonl", [record])

    @property
    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._started

    # -- the loop ---------------------------------------------------------------------------------------
    def _train_step(self, real_batches: list[torch.Tensor]) -> torch.Tensor:
        b = self.built
        latent_dim = self.generator.latent_dim
        penalty = getattr(b.loss, "discriminator_penalty", None)
        for i, real_u8 in enumerate(real_batches):
            real = to_model_range(real_u8.to(self.device, non_blocking=True))
            z = torch.randn(real.shape[0], latent_dim, device=self.device, generator=self.noise_rng)
            last = i == len(real_batches) - 1
            with torch.set_grad_enabled(last):
                fake = self.generator(z)
            real_logits = self.discriminator(real)
            fake_logits = self.discriminator(fake.detach())
            loss_d = b.loss.discriminator_loss(real_logits, fake_logits)
            if penalty is not None:
                loss_d = loss_d + penalty(self.discriminator, real, fake.detach())
            b.optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            b.optimizer_d.step()
        loss_g = b.loss.generator_loss(self.discriminator(fake))
        b.optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        b.optimizer_g.step()
        with torch.no_grad():
            return torch.stack([loss_d.detach(), loss_g.detach(),
                                torch.sigmoid(real_logits.detach()).mean(),
                                torch.sigmoid(fake_logits.detach()).mean()]).float()

    def _flush(self, bar: Any) -> None:
        """Fetch the pending per-step numbers in one transfer, log them, tell hooks, check for divergence."""
        if not self._pending:
            return
        values = torch.stack([t for _, _, t in self._pending]).cpu().tolist()
        elapsed = round(self.elapsed, 3)
        records = [{"step": step, "epoch": epoch, **dict(zip(METRIC_KEYS, row)), "time": elapsed}
                   for (step, epoch, _), row in zip(self._pending, values)]
        self._pending.clear()
        self.run_dir.append_jsonl("metrics.jsonl", records)
        for record in records:
            for _, hook in self.built.hooks:
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
        """Train from the current position to ``total_steps``; an epoch's end writes a grid and checkpoint."""
        train = self.recipe.train
        batches_per_epoch = self.steps_per_epoch * train.d_steps
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                       file=sys.stderr, desc=self.run_dir.name)
        try:
            for hook in self._hooks():
                hook.on_run_start(self)
            while self.step < self.total_steps:
                batches = self.loader.epoch(self.epoch, start=self.batch_in_epoch)
                while self.batch_in_epoch < batches_per_epoch and self.step < self.total_steps:
                    stats = self._train_step([next(batches) for _ in range(train.d_steps)])
                    self.step += 1
                    self.batch_in_epoch += train.d_steps
                    self._pending.append((self.step, self.epoch + 1, stats))
                    if bar is not None:
                        bar.update(1)
                    if self.step % train.log_every == 0:
                        self._flush(bar)
                self._flush(bar)
                completed = self.batch_in_epoch >= batches_per_epoch
                if completed:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                self._end_epoch(completed)
        finally:
            if bar is not None:
                bar.close()

    def _hooks(self) -> list[EvaluationHook]:
        return [hook for _, hook in self.built.hooks]

    def _end_epoch(self, completed: bool) -> None:
        """Progress grid and checkpoint; hooks hear about completed epochs only.

        A run stopped by ``max_steps`` part way through an epoch still gets a grid (named after the epoch
        in progress) and a checkpoint named after its step.
        """
        number = self.epoch if completed else self.epoch + 1
        self.save_grid(self.run_dir.samples_dir / f"epoch_{number:04d}.png")
        self.save_checkpoint(f"epoch_{number:04d}.pt" if completed else f"step_{self.step:08d}.pt")
        self.run_dir.update_meta(steps=self.step, epochs_completed=self.epoch, elapsed_s=round(self.elapsed, 3))
        if completed:
            for hook in self._hooks():
                hook.on_epoch_end(self, number)

    def save_grid(self, path: Path) -> None:
        with torch.no_grad(), preserved_buffers(self.generator):
            images = self.generator(self.fixed_noise)
        vutils.save_image(images.float(), path, nrow=int(math.ceil(math.sqrt(images.shape[0]))),
                          normalize=True, value_range=(-1, 1), padding=2)

    # -- checkpoints --------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: state dicts, counters and RNG states; plain values only."""
        np_state = np.random.get_state()
        state = {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.built.optimizer_g.state_dict(),
            "optimizer_d": self.built.optimizer_d.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "elapsed_s": self.elapsed,
            "fixed_noise": self.fixed_noise.cpu(),
            "rng": {
                "noise": self.noise_rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "numpy": {"key": np_state[0], "state": torch.from_numpy(np_state[1].astype(np.int64)),
                          "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                          "cached_gaussian": float(np_state[4])},
                "python": list(random.getstate()[1]),
                "python_version": random.getstate()[0],
                "python_gauss": random.getstate()[2],
            },
            "recipe": self.recipe.to_dict(),
        }
        return state

    def save_checkpoint(self, filename: str) -> Path:
        return self.run_dir.save_checkpoint(filename, self.state())


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
        "versions": environment(plugins),
        "plugin_failures": [f.message() for f in plugins.failures],
        "error": None,
    }


def run_recipe(recipe: Recipe, plugins: Plugins, out: Path, name: str | None = None,
               progress: bool = True) -> RunDir:
    """Build everything, create the run directory, train, and leave the directory complete.

    The run ends with status finished, interrupted (Ctrl-C: a checkpoint is written first), diverged, or
    failed (with the error recorded); in every case meta.json says so and the end-of-run hooks run.
    """
    built = build(recipe)
    run_dir = RunDir.create(out, name or recipe.experiment.name)
    run = Run(built, run_dir, plugins, progress)
    run_dir.recipe_path.write_text(recipe.to_toml(), "utf-8")
    run_dir.write_meta(start_meta(run, plugins))
    status, error = "failed", None
    try:
        run.train()
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        run.save_checkpoint(f"interrupted_step_{run.step:08d}.pt")
        error = f"interrupted by the user at step {run.step}"
        raise RunInterrupted(f"run interrupted at step {run.step}; checkpoint saved in {run_dir.path}") from None
    except RunDiverged as e:
        status, error = "diverged", str(e)
        raise
    except GanlabError as e:
        error = str(e)
        raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        raise
    finally:
        finish(run, status, error)
    return run_dir


def finish(run: Run, status: str, error: str | None) -> None:
    """Record how the run ended, let every hook write its final data, write the report.

    Never masks the original error: a hook or report failure is recorded in meta.json instead.
    """
    meta_changes = {"status": status, "ended": now_iso(), "steps": run.step, "epochs_completed": run.epoch,
                    "elapsed_s": round(run.elapsed, 3), "error": error}
    images = run.step * run.recipe.train.batch_size * run.recipe.train.d_steps
    meta_changes["images_per_s"] = round(images / run.elapsed, 2) if run.elapsed > 0 else None
    hook_errors = []
    for component, hook in run.built.hooks:
        try:
            hook.on_run_end(run, status)
        except Exception as e:  # a broken hook must not lose the run's status
            hook_errors.append(f"{component.section} ({component.name}): {type(e).__name__}: {e}")
    if hook_errors:
        meta_changes["hook_errors"] = hook_errors
    run.run_dir.update_meta(**meta_changes)
    try:
        write_report(run.run_dir, run.plugins.registry)
    except Exception as e:  # the report is derived and rebuildable; the run's outcome is not
        run.run_dir.update_meta(report_error=f"{type(e).__name__}: {e}")
    run.run_dir.unlock()
