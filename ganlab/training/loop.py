"""The loop over a run's steps: feed batches to the training step, flush the logged numbers, tell the
evaluators, write grids and checkpoints on schedule, and stop cleanly on a signal. :class:`Trainer` is also what
evaluators see of a live run, as a :class:`ganlab.RunView`.

Nothing here knows which generator, loss or data set it drives; it only uses the contracts in
:mod:`ganlab.contracts.engine`. Per-step numbers stay on the device and are fetched once every
``train.log_every`` steps, so the hot loop never waits for the host; every step is still logged.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common.atomic import atomic_write_bytes
from ..common.errors import CheckpointError, DataError, GanlabError
from ..contracts.engine import Evaluator
from ..data.loader import BatchLoader
from ..loading.manager import Plugins
from ..machine import distributed, signals
from ..machine.distributed import World
from ..machine.threads import ContentionWatch
from ..page.grids import png
from ..rundir.checkpoints import CheckpointSchedule
from ..rundir.rundir import RunDir, now_iso
from .assemble import Built, steps_per_epoch, total_steps
from .conditioning import (
    GENERATOR_LABELS,
    BalancedLabels,
    LabelDistribution,
    check_labels,
    distribution_of,
    is_conditional,
)
from .generate import grid_latents, progress_grid
from .loggers import Loggers
from .networks import EMA, Shadow, Updater, for_training
from .sampling import generate_images, preserved_buffers, seeded_rng, to_model_range, weights_digest
from .state import checkpoint_state
from .step import METRIC_KEYS, RATE_KEYS, Discriminate, Levers, ScheduledRate, TrainingStep
from .stopping import EarlyEnd, RunDiverged, RunEndedEarly, StopRequest, early_end, overflow_diverges


def latent_source(
    latent_dim: int,
    device: torch.device,
    rng: torch.Generator,
    world: World,
    labels: LabelDistribution | BalancedLabels | None = None,
) -> Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]:
    """This process's share of each global batch of latents, drawn from ``rng``, and of the generator's
    labels, drawn from ``labels`` (the data's label distribution, or its balanced labels:
    ``train.generator_labels``) with ``rng`` right after the latents; None without it, and then nothing
    more is drawn than an unconditional run always drew.

    A function of its own rather than a method of the run: the training step keeps it, and a step that
    referred back to its run would make a reference cycle, keeping the run and its DistributedDataParallel
    wrappers alive until the garbage collector ran, possibly at interpreter exit, after the process group
    was gone, where their destruction aborts the process ("terminate called without an active exception").
    """

    def draw(n_local: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = distributed.draw_for_global_batch(
            lambda n: torch.randn(n, latent_dim, device=device, generator=rng), n_local, world
        )
        if labels is None:
            return z, None
        return z, distributed.draw_for_global_batch(lambda n: labels.draw(n, rng), n_local, world)

    return draw


class Trainer:
    """A live training run. Evaluators see it as a :class:`ganlab.RunView`, which names what they may use;
    everything else here is the engine's own."""

    def __init__(
        self, built: Built, run_dir: RunDir, plugins: Plugins, progress: bool = True, world: World | None = None
    ):
        self.built = built
        self.recipe = built.recipe
        self.run_dir = run_dir
        self.plugins = plugins
        self.world = world = world or World()
        self.device = built.device
        self.dataset = built.dataset
        self.progress = progress and world.is_main
        train = self.recipe.train
        seed = self.recipe.experiment.seed
        self.loader = BatchLoader(
            self.dataset,
            train.batch_size,
            seed,
            train.num_workers,
            shard=(world.rank, world.size),
            device=self.device,
            residency=train.data_on_device,
        )
        self.steps_per_epoch = steps_per_epoch(len(self.dataset), train)
        self.total_steps = total_steps(len(self.dataset), train)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes every step: pick the fastest kernels once
        if train.channels_last:  # before any copy is taken, so the EMA's weights share the live layout
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
        self.fixed_noise = grid_latents(seed, train.grid_size, self.generator.latent_dim).to(self.device)
        self.noise_rng = torch.Generator(self.device).manual_seed(seed + 2)
        self.truncation: float | None = None
        self.imported_from: Path | None = None
        """The checkpoint of an imported run once it is loaded (``ganlab import``): it holds no discriminator,
        so :meth:`discriminate` refuses rather than score with untrained weights."""
        """The truncation psi of :meth:`generate`'s latents: None while training; ``ganlab evaluate
        --truncation`` sets it to score the trade-off of quality and diversity."""
        self.conditional_g, self.conditional_d = is_conditional(self.generator), is_conditional(self.discriminator)
        self.label_distribution = distribution_of(self.dataset)
        conditional = self.conditional_g or self.conditional_d
        self.levers = Levers(
            augment=built.augment,
            regularizers=built.regularizers,
            rates=(
                ScheduledRate(built.optimizer_g, built.schedules[0], self.total_steps, "schedule.generator"),
                ScheduledRate(built.optimizer_d, built.schedules[1], self.total_steps, "schedule.discriminator"),
            ),
            device=self.device,
        )
        self.loggers = Loggers(built.loggers if world.is_main else [])
        self.logged_keys = METRIC_KEYS + tuple(self.levers.columns())
        """The names of the numbers each step returns, in its records after ``step`` and ``epoch``."""
        self.training_step = TrainingStep(
            train_g=self._train_g,
            generator=self.generator,
            conditional_g=self.conditional_g,
            discriminate=Discriminate(self._train_d, self.conditional_d, built.augment, train.precision),
            update_g=self.update_g,
            update_d=self.update_d,
            loss=built.loss,
            levers=self.levers,
            latents=latent_source(
                self.generator.latent_dim,
                self.device,
                self.noise_rng,
                world,
                GENERATOR_LABELS[train.generator_labels](self.label_distribution.to(self.device))
                if conditional
                else None,
            ),
            device=self.device,
            precision=train.precision,
            memory_format=torch.channels_last if train.channels_last else torch.contiguous_format,
            ema=self.ema,
        )
        self.step = 0
        self.epochs_completed = 0  # full passes over the data
        self.batch_in_epoch = 0  # batches of the current epoch already consumed
        self._pending: list[tuple[int, int, torch.Tensor, list[float]]] = []
        self._started = time.monotonic()
        self._elapsed_before = 0.0
        self.schedule = CheckpointSchedule(self.recipe.checkpoint)
        self.stop = StopRequest()
        self.early_end: EarlyEnd | None = None
        """What a component asked for with :meth:`end_early`, honoured at the next step boundary."""
        self._latest_evaluation: dict[str, tuple[int, float]] = {}  # metric -> (step, value)
        self.contention: ContentionWatch | None = None
        """Watches how busy other processes keep the machine (set for the main process as training starts)."""

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

    # -- what evaluators use ---------------------------------------------------------------------------------
    @property
    def label_space(self) -> Any:
        """The labels the generator is conditioned on (a :class:`ganlab.LabelSpace`); None when it is not."""
        return self.label_distribution.space if self.conditional_g else None

    def generate(self, num: int, seed: int, batch_size: int = 256, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``num`` generated images as uint8 (N, C, H, W) on the CPU; a conditional generator's carry
        ``labels``, or labels drawn from the data's distribution after the latents, from the same seed.

        The seed is required: drawing from the training latents instead would change training, and under
        several processes would set the main process's latents apart from the others'.
        """
        if labels is not None:
            labels = check_labels(self.label_distribution.space, labels, num) if self.conditional_g else None
        return generate_images(
            self.sampler,
            num,
            seeded_rng(seed),
            self.device,
            batch_size,
            self.label_distribution,
            labels,
            self.truncation,
        )

    def sampling_weights_digest(self) -> str:
        """What decides :meth:`generate`'s images besides its arguments (see :class:`ganlab.RunView`)."""
        digest = weights_digest(self.sampler)
        return digest if self.truncation is None else f"{digest}:truncation={self.truncation!r}"

    def real_images(self, num: int, seed: int = 0) -> torch.Tensor:
        """``num`` training images as uint8 (N, C, H, W), the same ones for the same seed."""
        indices = self._real_indices(num, seed)
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return get_batch(indices)
        return torch.stack([self.dataset[int(i)] for i in indices])

    def real_labels(self, num: int, seed: int = 0) -> torch.Tensor | None:
        """The labels of exactly the images :meth:`real_images` gives for ``num`` and ``seed``; None for
        unlabelled data."""
        if self.label_distribution is None:
            return None
        return self.dataset.labels[self._real_indices(num, seed)]

    def _real_indices(self, num: int, seed: int) -> torch.Tensor:
        """Which images :meth:`real_images` and :meth:`real_labels` give: the first ``num`` of a seeded
        permutation of the data set."""
        return torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(seed))[:num]

    @torch.no_grad()
    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The loss's score of each uint8 image (:meth:`Loss.scores`: for BCE D's probability that it is
        real, for WGAN the critic's raw output), as float32 (N,) on the CPU.

        Scored by :class:`~ganlab.training.step.Discriminate`, the step's one way to call D, on the network this
        process may run alone and without augmentation: in training mode (batch norm normalises with the
        statistics of the images given, so score real and generated images in separate calls), in fp32,
        without gradients. The discriminator is left as it was: its buffers (batch-norm running statistics,
        spectral-norm vectors) are put back and so are torch's random states, which dropout would draw from.
        An imported run has no trained discriminator: a CheckpointError says so.
        """
        if self.imported_from is not None:
            raise CheckpointError(
                f"checkpoint {str(self.imported_from)!r} was imported (ganlab import) and holds a generator only; "
                "there is no trained discriminator to score images with"
            )
        judge = self.judge
        with preserved_buffers(judge), self._own_random_numbers():
            logits = Discriminate(judge, self.conditional_d)(
                to_model_range(images.to(self.device)), labels.to(self.device) if labels is not None else None
            )
        return self.built.loss.scores(logits).cpu()

    def _own_random_numbers(self) -> contextlib.AbstractContextManager[None]:
        """Torch's random states (this run's GPU's too) put back afterwards, so training never sees the draws."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def log_evaluation(self, metric: str, value: float, **details: Any) -> None:
        """Record one evaluation result (with its protocol in ``details``) in evaluations.jsonl."""
        record = {
            "metric": metric,
            "value": float(value),
            "step": self.step,
            "epoch": self.epoch,
            "time": now_iso(),
            **details,
            **({"truncation": self.truncation} if self.truncation is not None else {}),
        }
        self.run_dir.append_jsonl("evaluations.jsonl", [record])
        self.loggers.log_evaluation(record)
        self._latest_evaluation[metric] = (self.step, float(value))

    def end_early(self, status: str, reason: str) -> None:
        """A component's request to end the run before its last step (see :meth:`ganlab.RunView.end_early`);
        the first one wins."""
        request = early_end(status, reason)
        if self.early_end is None:
            self.early_end = request

    @property
    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._started

    def restart_clock(self, elapsed_before: float) -> None:
        """Count training time on from ``elapsed_before`` seconds: a resumed run's time so far."""
        self._elapsed_before, self._started = elapsed_before, time.monotonic()

    # -- the loop ---------------------------------------------------------------------------------------
    def _flush(self, bar: Any) -> None:
        """Fetch the pending per-step numbers in one transfer, log them, tell evaluators, check for divergence."""
        if not self._pending:
            return
        values = distributed.mean(self.world, torch.stack([t for _, _, t, _ in self._pending])).cpu().tolist()
        elapsed = round(self.elapsed, 3)
        records = [
            {
                "step": step,
                "epoch": epoch,
                **dict(zip(self.logged_keys, row)),
                **dict(zip(RATE_KEYS, rates)),
                "time": elapsed,
            }
            for (step, epoch, _, rates), row in zip(self._pending, values)
        ]
        self._pending.clear()
        if self.world.is_main:
            self.run_dir.append_jsonl("metrics.jsonl", records)
            self.loggers.log_steps(records)
        with self._evaluators() as evaluators:
            for record in records:
                for evaluator in evaluators:
                    evaluator.on_step_end(self, record)
        last = records[-1]
        if bar is not None:
            bar.set_postfix(
                loss_d=f"{last['loss_d']:.3f}",
                loss_g=f"{last['loss_g']:.3f}",
                d_real=f"{last['d_real']:.2f}",
                d_fake=f"{last['d_fake']:.2f}",
                refresh=False,
            )
        bad = next((r for r in records if not all(math.isfinite(r[k]) for k in METRIC_KEYS)), None)
        if bad is not None:
            raise RunDiverged(
                f"losses became non-finite at step {bad['step']} (loss_d={bad['loss_d']}, "
                f"loss_g={bad['loss_g']}); the last good checkpoint is kept"
            )

    def train(self) -> None:
        """Train from the current position to ``total_steps``; an epoch's end writes a grid and checkpoint
        (and lets :attr:`contention` see how busy the machine was during it).

        When :attr:`stop` is requested (the first SIGINT or SIGTERM), training stops at the end of the step
        in progress (under torchrun, of the next step all processes agree on: :meth:`_stop_agreed`) with an
        ``interrupted_step_*`` checkpoint and raises :class:`~ganlab.machine.signals.Stopped`.
        """
        train = self.recipe.train
        batches_per_epoch = self.steps_per_epoch * train.d_steps
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.total_steps,
                initial=self.step,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                desc=self.run_dir.name,
            )
        try:
            self.loggers.start(self)
            with self._evaluators() as evaluators:
                for evaluator in evaluators:
                    evaluator.on_run_start(self)
            while self.step < self.total_steps:
                batches = self.loader.epoch(self.epochs_completed, start=self.batch_in_epoch)
                while self.batch_in_epoch < batches_per_epoch and self.step < self.total_steps:
                    stats = self._train_step(self._next_batches(batches, train.d_steps), bar)
                    self.step += 1
                    self.batch_in_epoch += train.d_steps
                    self._pending.append((self.step, self.epoch, stats, self.levers.current_rates()))
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
                if self.early_end is not None and not self.world.distributed and self.step < self.total_steps:
                    raise RunEndedEarly(self.early_end)  # the epoch's checkpoint is written
                if self.contention is not None:
                    self.contention.check(f"epoch {self.epoch}")
        finally:
            self.loader.close()
            if bar is not None:
                bar.close()

    def _train_step(self, real_batches: list[torch.Tensor], bar: Any) -> torch.Tensor:
        """One training step; when it diverges, the steps before it are logged first (and a non-finite loss
        among them, the earlier sign, is the divergence reported)."""
        try:
            with overflow_diverges(self.step):
                return self.training_step(real_batches, self.step)
        except RunDiverged:
            self._flush(bar)
            raise

    def _checkpoint_between_epochs(self, batches_per_epoch: int, bar: Any) -> None:
        """The checkpoints a step may call for: the one asked for by a stop signal, or a scheduled one."""
        if self._stop_agreed():
            self._flush(bar)
            self.save_checkpoint(f"interrupted_step_{self.step:08d}.pt")
            raise signals.Stopped(self.stop.signum)
        if self._early_end_agreed():
            self._flush(bar)
            self.save_checkpoint(f"step_{self.step:08d}.pt")
            raise RunEndedEarly(self.early_end or EarlyEnd("ended-early", "asked in another process"))
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

    def _early_end_agreed(self) -> bool:
        """Whether a component's request to end early stops the run after this step: alone, at once (with
        nothing left to train, the run just finishes); under torchrun, where only the main process hears
        components, at the next ``log_every`` step, all processes deciding together."""
        if self.step >= self.total_steps:
            return False
        if not self.world.distributed:
            return self.early_end is not None
        if self.step % self.recipe.train.log_every:
            return False
        return bool(distributed.largest(self.world, int(self.early_end is not None), self.device))

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
            raise DataError(
                f"data: reading a batch of epoch {self.epochs_completed + 1} failed: {type(e).__name__}: {message}"
            ) from None

    @contextlib.contextmanager
    def _evaluators(self) -> Iterator[list[Evaluator]]:
        """The evaluators, to call in the main process only (which alone writes the run directory),
        with torch's random states put back once they are done.

        Training must not depend on what evaluators draw (torch's DataLoader takes a seed from the global
        generator for every Inception pass); and only so do all processes keep equal states, which
        :func:`~ganlab.machine.distributed.draw_for_global_batch` relies on.
        """
        if not self.world.is_main:
            yield []
            return
        with self._own_random_numbers():
            yield [evaluator for _, evaluator in self.built.evaluators]

    def _end_epoch(self, completed: bool) -> None:
        """Progress grid, evaluators, checkpoint; evaluators hear about completed epochs only.

        The checkpoint comes after the evaluators so that it holds what they computed for this epoch: a run
        resumed from it neither repeats nor loses an evaluation. A run stopped by ``max_steps`` part way
        through an epoch still gets a grid (named after the epoch in progress) and a checkpoint named
        after its step. Grids come every ``train.grid_every`` epochs and at the run's end, whatever stops it
        there; the samples evaluator and ``ganlab compare`` read whichever grids exist.
        """
        if not self.world.is_main:
            return
        number = self.epoch
        if not completed or number % self.recipe.train.grid_every == 0 or self.step >= self.total_steps:
            self.save_grid(self.run_dir.grid_path(number))
        if completed:
            with self._evaluators() as evaluators:
                for evaluator in evaluators:
                    evaluator.on_epoch_end(self, number)
        self.save_checkpoint(f"epoch_{number:04d}.pt" if completed else f"step_{self.step:08d}.pt")
        self.run_dir.update_meta(
            steps=self.step, epochs_completed=self.epochs_completed, elapsed_s=round(self.elapsed, 3)
        )

    def save_grid(self, path: Path) -> None:
        """The fixed-noise progress grid, drawn by the rule every generated image follows
        (:func:`ganlab.training.sampling.sample`), so it shows what ``generate`` and ``compare`` show for its
        latents. A conditional generator's grid has one row per condition (:func:`grid_conditions`, listed
        in ``samples/rows.json`` for the report's captions), the same latents across rows."""
        grid, rows = progress_grid(
            self.sampler, self.fixed_noise, self.label_distribution if self.conditional_g else None
        )
        if rows is not None:
            atomic_write_bytes(self.run_dir.grid_rows_path, json.dumps(rows, indent=1).encode())
        atomic_write_bytes(path, png(grid))
        self.loggers.log_image("samples", grid, self.step)

    def save_checkpoint(self, filename: str) -> Path | None:
        """Write a checkpoint with the best-metric score it earned at this step, then apply retention.

        Only the main process writes; the others hold the same state."""
        if not self.world.is_main:
            return None
        config = self.recipe.checkpoint
        scored = self._latest_evaluation.get(config.best_metric)
        metric = scored[1] if scored is not None and scored[0] == self.step else None
        path = self.run_dir.save_checkpoint(filename, checkpoint_state(self), metric)
        self.run_dir.checkpoint_store.prune(config)
        self.schedule.written()
        return path
