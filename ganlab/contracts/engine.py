"""The contracts between the engine and components. The engine knows these and nothing else.

A component is whatever its registry factory returns, ``factory(config, context)``; these contracts say
what the engine does with each kind. Third-party components implement the same contracts. What an evaluator
sees of a run is :class:`RunView`, so components depend on this module and never on the engine.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

import torch
from torch import nn

from ..common.labels import LabelSpace
from ..recipes.recipe import Recipe
from ..page.html import ReportSection
from ..rundir.rundir import RunDir


class Stateful:
    """What the engine saves of a lever in each checkpoint and restores on resume: plain values only
    (numbers, strings, lists, dicts, tensors). The default is no state."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


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


@runtime_checkable
class ConditionalDiscriminator(Protocol):
    """A discriminator that takes labels with the images: ``conditional = True``, and ``(images, labels)``
    -> one raw output per image; real images come with their own labels, generated ones with the labels
    the generator was given."""

    conditional: bool

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


@dataclasses.dataclass(frozen=True)
class OutrightWin:
    """When a loss's logged scores say the discriminator has won outright (and the generator's gradients
    have vanished): sustained mean D(G(z)) below ``fake_below``, D(x) - D(G(z)) above ``gap_above`` and,
    unless it is None, a generator loss above ``generator_loss_above``. Training health flags it."""

    fake_below: float
    gap_above: float
    generator_loss_above: float | None = None


@dataclasses.dataclass(frozen=True)
class ScoreKind:
    """What the scores a loss makes of the discriminator's raw outputs are, for whoever reads them later:
    the logged ``d_real`` and ``d_fake``, ``run.discriminate``, the D(x)/D(G(z)) figures, training health.

    ``name`` labels axes ("probability 'real'", "critic score"); ``meaning`` is a sentence for the report.
    ``low`` and ``high`` bound the scores (None: unbounded, so figures fit the data); ``references`` are
    values worth a line in a figure (0.5 for a probability, the targets of a least-squares loss).
    ``outright_win`` is None for a loss whose generator keeps its gradients however far apart the scores
    are (WGAN, hinge, least squares): "the discriminator won outright" means nothing there.
    Saved in meta.json, so a report rebuilt later reads the run's scores as they were made.
    """

    name: str
    meaning: str
    low: float | None = None
    high: float | None = None
    references: tuple[float, ...] = ()
    outright_win: OutrightWin | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "ScoreKind":
        """The kind a run recorded in its meta.json; a run from before ganlab recorded it logged
        probabilities (the sigmoid of D's outputs, whatever the loss), and one whose record is not
        readable is read as unbounded raw scores, which assumes nothing."""
        recorded = meta.get("scores")
        if recorded is None:
            return PROBABILITY
        try:
            win = recorded.get("outright_win")
            return cls(**{**recorded, "references": tuple(recorded.get("references", ())),
                          "outright_win": OutrightWin(**win) if win is not None else None})
        except (TypeError, AttributeError):
            return RAW_SCORE


RAW_SCORE = ScoreKind("score", "The discriminator's raw output (higher means 'real').")
"""What a loss's scores are unless it says otherwise: D's outputs as they are, unbounded."""

PROBABILITY = ScoreKind(
    "probability 'real'", "The discriminator's probability that an image is real (the sigmoid of its output).",
    low=0.0, high=1.0, references=(0.5,),
    outright_win=OutrightWin(fake_below=0.01, gap_above=0.7, generator_loss_above=5.0))
"""Scores of a loss on logits (BCE): D wins outright where D(G(z)) < 0.01, D(x) - D(G(z)) > 0.7 and the
non-saturating generator loss > 5 (D(G(z)) about 0.007 for a typical fake). The gap rather than D(x)
itself, so that one-sided label smoothing (which holds D(x) near 0.9) does not hide it. A strong but still
useful discriminator (the quickstart's D(G(z)) stays near 0.03 with a generator loss near 4.5 while its
samples keep improving) stays below these lines; the classic failure (D(G(z)) near 1e-4, generator loss
past 10) is far above."""


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
    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's loss from the updated discriminator's outputs on the generated batch, and on the
        last real batch when ``generator_needs_real`` (without gradients: they cannot reach the generator)."""

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """A term added to the discriminator's loss, or None (the default) for none.

        Called once per discriminator update, with that update's real and generated images, float32 in
        [-1, 1], neither requiring gradients (``fake`` is detached). The engine calls it outside autocast,
        so it runs in fp32 whatever ``train.precision`` is: a ``torch.autograd.grad`` inside it needs no
        gradient scaling (in fp16 an unscaled inner gradient could underflow to zero). Its discriminator is
        never a ``torch.compile`` one, which could not back-propagate twice (``create_graph``). Random
        numbers drawn per image (a penalty's interpolation points) come from
        :func:`ganlab.draw_for_global_batch`, so that several processes compute what one process computes.
        """
        return None

    def check_discriminator(self, discriminator: nn.Module) -> None:
        """Raise :class:`ganlab.ConfigError` before training when the recipe pairs the loss with a
        discriminator it cannot use (a gradient penalty is wrong under batch norm). Accepts any by default."""

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's raw outputs as the scores ``score_kind`` describes; by default, unchanged."""
        return logits


OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
"""What an ``optimizer`` component is: parameters in, a ready ``torch.optim.Optimizer`` out."""

InitScheme = Callable[[nn.Module], None]
"""What an ``init`` component is: called once on each network, modifies its weights in place."""


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

    def generate(self, num: int, seed: int, batch_size: int = 256,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
        """``num`` generated images, uint8 ``(N, C, H, W)`` on the CPU, from latents drawn from ``seed``,
        through the EMA generator when ``train.ema`` is on; training is never disturbed. A conditional
        run's images carry ``labels`` (int64 ``(num, A)``), or labels drawn from the data's label
        distribution with ``seed`` when None."""
        ...

    def sampling_weights_digest(self) -> str:
        """SHA-256 of the weights and buffers :meth:`generate` samples from: the same digest, device, count
        and seed give the same images, so an evaluator may reuse what it computed from them."""
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
        """Append ``{"metric", "value", "step", "epoch", "time", **protocol}`` to ``evaluations.jsonl``."""
        ...


class Evaluator:
    """Base class for ``evaluator`` components: reacts to run events and may add sections to the report.

    Every method is optional. Evaluators write their data under ``run.run_dir.evaluator_dir(name)`` so the report
    can be rebuilt from the run directory alone: ``report_sections`` reads only the run directory. A
    JSON-lines file there is a log whose records carry the ``step`` they were made at, so that a resume
    can drop the records made after its checkpoint, as it does for the run's own logs.
    """

    name: str = "evaluator"

    def on_run_start(self, run: RunView) -> None:
        """Before the first step (also after a resume)."""

    def on_step_end(self, run: RunView, record: dict[str, float]) -> None:
        """After every generator update; ``record`` holds the step's logged numbers."""

    def on_epoch_end(self, run: RunView, epoch: int) -> None:
        """After each full pass over the data and its sample grid, before its checkpoint; never for an epoch
        that ``train.max_steps`` or Ctrl-C cut short (``on_run_end`` comes then)."""

    def on_run_end(self, run: RunView, status: str) -> None:
        """Once at the end, whatever the status (finished, failed, interrupted, diverged)."""

    def state_dict(self) -> dict[str, Any]:
        """What the evaluator has accumulated in memory, as plain values; saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values on resume. Records of JSON-lines files made after that
        checkpoint are already gone; any other file the evaluator writes is the evaluator's to keep right (write
        it whole from its logs, or again when the step comes round)."""

    def report_sections(self, run_dir: RunDir) -> list[ReportSection]:
        """Sections for the run's report, built from files in ``run_dir`` only."""
        return []

