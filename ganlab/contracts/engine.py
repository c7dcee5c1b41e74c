"""The contracts between the engine and components: what the engine calls, and nothing else.

A component is whatever its registry factory returns, ``factory(config, context)``; these classes say
what the engine does with each kind, and third-party components implement the same ones. What an
evaluator sees of a run is :class:`RunView`, so components depend on this module and never on the engine.
What a loss's scores mean is in :mod:`.scores`; the levers' contracts are in :mod:`.levers`, the loggers'
in :mod:`.loggers`, and which base class each kind extends in :mod:`.kinds`.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ..common.labels import LabelSpace
from ..page.html import ReportSection
from ..recipes.recipe import Recipe
from ..rundir.rundir import RunDir
from .scores import RAW_SCORE, ScoreKind


@dataclasses.dataclass(frozen=True)
class Metric:
    """A number an evaluator logs in ``evaluations.jsonl`` (``run.log_evaluation``), by the name it logs it
    under, and which way is better: what lets a tool that optimises a score (``ganlab tune``, a checkpoint's
    best metric, an early stopper) know whether to minimise it without a table of names of its own."""

    name: str
    higher_is_better: bool


def lower_is_better(name: str) -> Metric:
    """A distance or error: FID, KID, SWD."""
    return Metric(name, higher_is_better=False)


def higher_is_better(name: str) -> Metric:
    """A share or similarity to maximise: precision, recall, coverage."""
    return Metric(name, higher_is_better=True)


STOP_STATUS = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
"""The form of a status a component ends a run with (:meth:`RunView.end_early`): a short lowercase word."""


class Stateful:
    """What the engine saves of a component in every checkpoint and restores on resume (levers, loggers,
    evaluators): plain values only (numbers, strings, lists, dicts, tensors). The default is no state.
    """

    def state_dict(self) -> dict[str, Any]:
        """What the component holds in memory and must not lose on resume; saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (``{}`` for a component that was not in the checkpoint);
        raise on a state it cannot take, and the resume stops before the run's files change."""


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a factory may need beyond its own config.

    ``image_size`` and ``channels`` are the training images' shape, taken from the built dataset; they are
    ``None`` while the dataset itself is being built. ``label_space`` is the data set's labels (a
    conditional network sizes its label embeddings by it); ``None`` for unlabelled data, and while the
    data set is not built yet (the early check on the meta device), where a conditional network builds
    without label inputs. ``dataset`` is the built training data set, for the components that look past its
    shape (a metric evaluator takes its held-out images from it); ``None`` while it is being built, and where a
    report rebuilds evaluators without data.
    """

    seed: int
    device: torch.device
    image_size: int | None = None
    channels: int | None = None
    label_space: LabelSpace | None = None
    dataset: ImageDataset | None = None


@runtime_checkable
class Generator(Protocol):
    """An ``nn.Module`` mapping latent vectors ``(N, latent_dim)`` to images ``(N, C, H, W)`` in [-1, 1]."""

    latent_dim: int

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    """An ``nn.Module`` mapping images ``(N, C, H, W)`` in [-1, 1] to one raw logit per image, ``(N,)``."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ConditionalGenerator(Protocol):
    """A generator that takes labels with z: ``conditional = True``, and ``(z, labels)`` -> images, with
    ``labels`` int64 ``(N, A)`` value indices of :attr:`BuildContext.label_space`. The engine gives it
    labels drawn from the data's label distribution in training, and the asked-for ones when sampling;
    ``label_space`` is the one it was built for (the standing batch-norm statistics draw labels from it)."""

    latent_dim: int
    conditional: bool
    label_space: LabelSpace

    def __call__(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


class Loss(abc.ABC):
    """Base class for ``loss`` components: functions of the discriminator's raw outputs ("logits"); the
    engine does all the stepping. A factory must return an instance of a subclass (checked at build).

    Subclasses write the two losses; everything else has a default:

    - ``generator_needs_real``: set it True for a loss whose generator loss compares generated with real
      images (relativistic losses); only then does the engine score the real batch again, with the
      updated discriminator, for the generator's phase. Otherwise ``real_logits`` is None, and the step
      saves that discriminator forward.
    - :meth:`penalty`: a term that needs more than logits (a gradient penalty).
    - :meth:`check_discriminator`: refuse a discriminator the loss cannot train, before training.
    - :meth:`scores` and ``score_kind``: what the logs, ``run.discriminate``, the D(x)/D(G(z)) figures and
      training health show of D's outputs. By default the raw outputs, described as unbounded scores; a
      loss on logits turns them into probabilities and says so (``score_kind = PROBABILITY``).
    """

    generator_needs_real: bool = False
    score_kind: ScoreKind = RAW_SCORE

    @abc.abstractmethod
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss for one update, from its outputs on a real and a generated batch."""

    @abc.abstractmethod
    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's loss from the updated discriminator's outputs on the generated batch, and on the
        last real batch when ``generator_needs_real`` (without gradients: they cannot reach the generator)."""

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """A term added to the discriminator's loss, or None (the default) for none.

        Called once per discriminator update, with that update's real and generated images, float32 in
        [-1, 1], neither requiring gradients (``fake`` is detached). ``discriminator(images)`` is D as a
        regularizer's :attr:`ganlab.RegularizerInputs.discriminate` sees it, judging every image under the
        real images' labels in a conditional run: raw outputs, float32 ``(N,)``, of the images with the
        run's augmentation applied (the function the loss trains), computed in fp32 outside autocast on the
        network without ``torch.compile``. So a ``torch.autograd.grad`` inside it needs no gradient scaling
        (in fp16 an unscaled inner gradient could underflow to zero) and may back-propagate twice
        (``create_graph``). Random numbers drawn per image (a penalty's interpolation points) come from
        :func:`ganlab.draw_for_global_batch`, so that several processes compute what one process computes.
        """
        return None

    def check_discriminator(self, discriminator: nn.Module) -> None:
        """Raise :class:`ganlab.ConfigError` before training when the recipe pairs the loss with a
        discriminator it cannot use (a gradient penalty is wrong under batch norm). Accepts any by default."""

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's raw outputs as the scores ``score_kind`` describes; by default, unchanged."""
        return logits


class ImageDataset(Protocol):
    """Training images as uint8 ``(C, H, W)`` tensors; the engine scales them to [-1, 1] on the device.

    uint8 keeps host memory and host-to-device copies four times smaller than float. A dataset that can
    gather many images at once (an in-memory or memory-mapped array) also offers
    ``get_batch(indices) -> uint8 (N, C, H, W)``, which the loader then uses instead of per-item access.

    A labelled data set also has ``label_space`` (a :class:`ganlab.LabelSpace`) and ``labels``, int64
    ``(len, A)`` on the CPU, row i the labels of image i; an unlabelled one has neither (or
    ``label_space = None``). The engine reads them with ``getattr(dataset, "label_space", None)``.

    A data set that trains on part of its source (``image-folder`` and ``celeba`` with ``num_images``) also
    offers ``held_out() -> ImageDataset | None``: the source's images it does not train on, at its image
    size and transform, or None when it holds none back. Metric evaluators score against them by default
    (``reference = "auto"``): a generator that copies its training images scores best against those very
    images, so a small-data run must be scored against others. The held-out set's ``describe()`` says so
    (``"part": "held-out"``), and the training set's (``"part": "training subset"``) that it is a subset,
    so reference fingerprints and the readable ``reference_source`` tell them apart.
    """

    image_size: int
    channels: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> torch.Tensor: ...

    def describe(self) -> dict[str, Any]:
        """Plain values that identify the data (source, count, transform): shown to users, fingerprinted."""
        ...


@runtime_checkable
class RunView(Protocol):
    """What evaluators (and the metrics they compute) may use of a live run: everything else of the run is the
    engine's own and may change. Read-only; evaluators run in the main process only.

    The engine's run implements it; a test double of these members alone is enough to drive any evaluator.
    """

    @property
    def run_dir(self) -> RunDir:
        """The run directory: ``run_dir.path`` is its folder, ``run_dir.evaluator_dir(name)`` an evaluator's own."""

    @property
    def recipe(self) -> Recipe:
        """The resolved recipe (``recipe.train.epochs``, ``recipe.experiment.seed``, ``recipe.to_dict()``)."""

    @property
    def device(self) -> torch.device:
        """The device the run trains on."""

    @property
    def progress(self) -> bool:
        """Whether the run shows progress bars; a long computation in an evaluator may show its own when True."""

    @property
    def step(self) -> int:
        """Generator updates done so far (0 before the first; after a resume, where the checkpoint left off)."""

    @property
    def epoch(self) -> int:
        """The epoch of the latest step, from 1, as ``metrics.jsonl`` numbers it (1 before the first step)."""

    @property
    def epochs_completed(self) -> int:
        """Full passes over the data so far."""

    @property
    def steps_per_epoch(self) -> int:
        """Generator updates per epoch."""

    @property
    def total_steps(self) -> int:
        """Generator updates in the whole run, ``train.max_steps`` counted."""

    @property
    def fixed_noise(self) -> torch.Tensor:
        """The latent vectors of the sample grids, ``(train.grid_size, latent_dim)`` on :attr:`device`."""

    @property
    def generator(self) -> nn.Module:
        """The generator being trained, in training mode: look, change nothing (sample with :meth:`generate`)."""

    @property
    def discriminator(self) -> nn.Module:
        """The discriminator being trained: look, change nothing (score with :meth:`discriminate`)."""

    @property
    def dataset(self) -> ImageDataset:
        """The training data set."""

    @property
    def label_space(self) -> LabelSpace | None:
        """The labels the run's generator is conditioned on; None when it is unconditional."""

    def generate(self, num: int, seed: int, batch_size: int = 256, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``num`` generated images, uint8 ``(N, C, H, W)`` on the CPU, from latents drawn from ``seed``,
        through the EMA generator when ``train.ema`` is on; training is never disturbed. A conditional
        run's images carry ``labels`` (int64 ``(num, A)``), or labels drawn from the data's label
        distribution with ``seed`` when None. While ``ganlab evaluate --truncation`` scores a psi, the latents
        are truncated at it."""
        ...

    def sampling_weights_digest(self) -> str:
        """SHA-256 of the weights and buffers :meth:`generate` samples from (with the truncation psi appended
        while ``ganlab evaluate --truncation`` scores one): the same digest, device, count and seed give the
        same images, so an evaluator may reuse what it computed from them."""
        ...

    def real_images(self, num: int, seed: int = 0) -> torch.Tensor:
        """``num`` training images, uint8 ``(N, C, H, W)``, the same ones for the same seed."""
        ...

    def real_labels(self, num: int, seed: int = 0) -> torch.Tensor | None:
        """The labels of exactly the images ``real_images(num, seed)`` returns, int64 ``(N, A)``; None for
        unlabelled data."""
        ...

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The run's loss's score of each uint8 image (:meth:`Loss.scores` of D's raw outputs), float32
        ``(N,)`` on the CPU; the discriminator and torch's random states are left as they were. A
        conditional discriminator scores the images under ``labels`` (required for it)."""
        ...

    def log_evaluation(self, metric: str, value: float, **protocol: Any) -> None:
        """Append ``{"metric", "value", "step", "epoch", "time", **protocol}`` to ``evaluations.jsonl`` (with
        ``"truncation": psi`` while ``ganlab evaluate --truncation`` scores one)."""
        ...

    def end_early(self, status: str, reason: str) -> None:
        """Ask the run to end before its last step, as an early stopper or a pruner decides from the numbers
        it sees (an evaluator's scores, a logger's records). The run stops at the next step boundary (at
        once when asked from an epoch's end, after that epoch's checkpoint), writes a checkpoint, runs no
        end-of-run scoring, and records ``status`` (a lowercase word of the component's own, such as
        ``pruned`` or ``early-stopped``; not running, finished, failed, interrupted, diverged or imported) and
        ``reason`` in meta.json (``stop_reason``). Such a run is complete: reported, comparable, and
        resumable with ``ganlab run --resume`` to train on. The first request wins; a ValueError for a
        status of another form."""
        ...


class Evaluator(Stateful):
    """Base class for ``evaluator`` components: reacts to run events and may add sections to the report.

    An evaluator that logs scores (``run.log_evaluation``) declares them in :attr:`metrics`, each with
    which way is better, and how often it logs them in :attr:`every`; ``ganlab tune`` reads both to check
    an objective before a trial runs and to know whether to minimise it.

    Every method is optional. Evaluators write their data under ``run.run_dir.evaluator_dir(name)`` so the report
    can be rebuilt from the run directory alone: ``report_sections`` reads only the run directory. A
    JSON-lines file there is a log whose records carry the ``step`` they were made at, so that a resume
    can drop the records made after its checkpoint, as it does for the run's own logs.

    What an evaluator accumulates in memory it saves as any stateful component does (:class:`Stateful`). On
    resume, records of its JSON-lines files made after that checkpoint are already gone; any other file
    the evaluator writes is the evaluator's to keep right (write it whole from its logs, or again when the step
    comes round).
    """

    name: str = "evaluator"
    metrics: tuple[Metric, ...] = ()
    """The evaluation metrics it logs, each with its direction (:func:`lower_is_better`, :func:`higher_is_better`)."""
    every: int | None = None
    """Completed epochs between two evaluations of :attr:`metrics` (at epochs ``every``, ``2 * every``, ...);
    they are scored once more at the end of a finished run. None: only at that end."""

    def on_run_start(self, run: RunView) -> None:
        """Before the first step (also after a resume)."""

    def on_step_end(self, run: RunView, record: dict[str, float]) -> None:
        """After every generator update; ``record`` holds the step's logged numbers."""

    def on_epoch_end(self, run: RunView, epoch: int) -> None:
        """After each full pass over the data and its sample grid, before its checkpoint; never for an epoch
        that ``train.max_steps`` or Ctrl-C cut short (``on_run_end`` comes then)."""

    def on_run_end(self, run: RunView, status: str) -> None:
        """Once at the end, whatever the status (finished, failed, interrupted, diverged)."""

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        """Sections for the run's report, built from files in ``run_dir`` only."""
        return []
