"""How every generated image is drawn: one rule, so an image depends only on its latent and the weights.

DCGAN's reference code samples in training mode, so batch norm normalises each image with the statistics
of the batch it is drawn in: a one-image request is normalised by itself (its images score far worse),
and a seed's face changes with how many images are asked for. Here a generator with batch norm is run in
evaluation mode with *standing statistics*: its batch-norm statistics are recomputed over many batches of
latents drawn from a fixed seed (as BigGAN's and PyTorch-StudioGAN's "standing stats" do), for these very
weights. In BENCHMARKS.md ("Sampling statistics") they score as well as a 256-image batch's statistics
and better than the layers' running statistics, clearly so for an EMA generator, whose running statistics
were collected by the raw weights (for the raw weights, running averages trail them slightly).

Every path that shows or scores generated images goes through :func:`sample` (``ganlab generate``, the
progress grids, ``compare``'s grids, every metric, :meth:`ganlab.training.loop.Trainer.generate` for evaluators),
so they all agree. The progress grids follow the rule too although their fixed noise already made them
independent of any request: otherwise a run's last grid and ``ganlab generate`` or ``compare`` on the same
checkpoint and latents would show different faces.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import weakref
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..metrics.protocol import LATENT_BLOCK, STANDING_BATCH_SIZE, STANDING_BATCHES, STANDING_SEED
from .conditioning import LabelDistribution, forward, is_conditional

_standing_cache: weakref.WeakKeyDictionary[nn.Module, tuple[str, list[torch.Tensor]]] = weakref.WeakKeyDictionary()
"""Per generator: the digest of the weights its standing statistics belong to, and those statistics."""


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 [0, 255], rounded (what image files and metrics expect)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def seeded_rng(seed: int) -> torch.Generator:
    """The generator that seeded latents are drawn from: always the CPU's, since CUDA's draws other numbers
    for the same seed, and ``--seed S`` must give the same images on a GPU and on a laptop."""
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def preserved_buffers(module: nn.Module) -> Iterator[None]:
    """Run ``module`` without changing its buffers (batch-norm running statistics), so that looking at a
    network never influences its training: a run's result does not depend on how often it was looked at."""
    saved = [b.detach().clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved):
                buffer.copy_(value)


@contextlib.contextmanager
def preserved_modes(module: nn.Module) -> Iterator[None]:
    """Put back every submodule's training flag (and batch norm's momentum) as it was; the training loop
    runs the same module in training mode."""
    saved = [(m, m.training, getattr(m, "momentum", None)) for m in module.modules()]
    try:
        yield
    finally:
        for m, training, momentum in saved:
            m.training = training
            if isinstance(m, _BatchNorm):
                m.momentum = momentum


def batch_norms(module: nn.Module) -> list[_BatchNorm]:
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of ``module``'s state dict (names, dtypes, shapes and values): what decides its output."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"|{name}:{flat.dtype}:{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy())
    return digest.hexdigest()


def _device(module: nn.Module) -> torch.device:
    tensor = next(module.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.no_grad()
def standing_statistics(generator: nn.Module) -> list[torch.Tensor]:
    """The values of ``generator``'s buffers with batch-norm statistics averaged over
    :data:`STANDING_BATCHES` batches of seeded latents (``momentum=None``: a cumulative average).

    Only the batch-norm layers run in training mode (dropout and the like stay off and draw nothing from
    torch's random state); the generator's own buffers, modes and momenta are put back afterwards. A
    conditional generator gets labels drawn uniformly per attribute (after each batch's latents, from the
    same seed): the statistics then cover every condition alike and need nothing of the training data, so
    ``ganlab generate`` computes them from the run directory alone.
    """
    rng = torch.Generator().manual_seed(STANDING_SEED)
    device = _device(generator)
    with preserved_buffers(generator), preserved_modes(generator):
        generator.eval()
        norms = batch_norms(generator)
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
            norm.train()
        conditional = is_conditional(generator)
        last_norm = None
        for batch in range(STANDING_BATCHES):
            z = torch.randn(STANDING_BATCH_SIZE, generator.latent_dim, generator=rng).to(device)
            labels = (
                torch.stack(
                    [
                        torch.randint(size, (STANDING_BATCH_SIZE,), generator=rng)
                        for size in generator.label_space.sizes
                    ],
                    dim=1,
                ).to(device)
                if conditional
                else None
            )
            if batch == 0:
                with _last_norm_run(generator, norms) as found:
                    forward(generator, z, labels, conditional)
                last_norm = found[0] if found else None
                continue
            with _stopped_after(last_norm):
                forward(generator, z, labels, conditional)
        return [b.detach().clone() for b in generator.buffers()]


class _StatisticsTaken(BaseException):
    """Ends a standing-statistics forward once its last batch-norm layer has run. A BaseException, so that a
    generator's own ``except Exception`` cannot catch it and carry on."""


@contextlib.contextmanager
def _last_norm_run(generator: nn.Module, norms: list[_BatchNorm]) -> Iterator[list[_BatchNorm]]:
    """Watches one full forward of ``generator``; afterwards the list holds the batch-norm layer after which
    the rest of such a forward can be skipped (:func:`_stopped_after`), or stays empty where that is not sure
    to leave the statistics as they are: unless each of ``norms`` ran exactly once, and every other module
    that holds buffers of its own had finished before the last of them and did not run again (the rest of
    the forward, skipped, might otherwise change them)."""
    finished: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda m, *_: finished.append(m)) for m in generator.modules()]
    found: list[_BatchNorm] = []
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()
    runs = [m for m in finished if isinstance(m, _BatchNorm)]
    if not runs or sorted(map(id, runs)) != sorted(map(id, norms)):
        return
    last = max(i for i, m in enumerate(finished) if m is runs[-1])
    before, later = set(map(id, finished[:last])), set(map(id, finished[last + 1 :]))
    buffered = [
        m
        for m in generator.modules()
        if not isinstance(m, _BatchNorm) and next(m.buffers(recurse=False), None) is not None
    ]
    if all(id(m) in before and id(m) not in later for m in buffered):
        found.append(runs[-1])


@contextlib.contextmanager
def _stopped_after(norm: _BatchNorm | None) -> Iterator[None]:
    """A forward that ends once ``norm`` has run (None: runs whole). The standing statistics are the
    batch-norm layers' buffers, so what the generator computes after its last one (for DCGAN the output
    layer, a sixth of the forward) changes nothing in them: they are the same bit for bit."""
    if norm is None:
        yield
        return

    def stop(*_: object) -> None:
        raise _StatisticsTaken

    handle = norm.register_forward_hook(stop)
    try:
        yield
    except _StatisticsTaken:
        pass
    finally:
        handle.remove()


def cached_standing_statistics(generator: nn.Module) -> list[torch.Tensor]:
    """:func:`standing_statistics`, computed once per weights: a run's grid and its evaluators' samples at the end
    of an epoch, or a command that samples repeatedly, pay for them once."""
    key = f"{_device(generator)}:{weights_digest(generator)}"
    cached = _standing_cache.get(generator)
    if cached is None or cached[0] != key:
        cached = (key, standing_statistics(generator))
        _standing_cache[generator] = cached
    return cached[1]


@contextlib.contextmanager
def sampling_mode(generator: nn.Module) -> Iterator[nn.Module]:
    """``generator`` ready to draw request-independent images: evaluation mode, with standing statistics in
    its batch-norm layers when it has any; its buffers and modes are restored afterwards, so sampling
    never changes training (nor a resumed run, bit for bit)."""
    with preserved_buffers(generator), preserved_modes(generator):
        if batch_norms(generator):
            with torch.no_grad():
                for buffer, value in zip(generator.buffers(), cached_standing_statistics(generator)):
                    buffer.copy_(value)
        generator.eval()
        yield generator


def frozen_for_sampling(generator: nn.Module) -> nn.Module:
    """A copy of ``generator`` that samples as :func:`sample` does on its own, with nothing around it: in
    evaluation mode, its batch-norm buffers holding the standing statistics. What an export writes, so
    that the exported network makes ganlab's images without ganlab."""
    with sampling_mode(generator):
        frozen = copy.deepcopy(generator)
    return frozen.eval().requires_grad_(False)


@torch.no_grad()
def sample(
    generator: nn.Module, z: torch.Tensor, batch_size: int = 256, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """The images for latents ``z`` (and, for a conditional generator, ``labels``, int64 (N, A)) as uint8
    (N, C, H, W) on the CPU, the generator left as it was; the one function every generated image comes
    from."""
    conditional = is_conditional(generator)
    if conditional and labels is None:
        raise ValueError("a conditional generator needs labels to sample")
    label_chunks = labels.to(z.device).split(batch_size) if conditional else [None] * -(-len(z) // batch_size)
    with sampling_mode(generator):
        return torch.cat(
            [
                to_uint8(forward(generator, chunk, y, conditional)).cpu()
                for chunk, y in zip(z.split(batch_size), label_chunks)
            ]
        )


def seeded_latents(rng: torch.Generator, num: int, latent_dim: int) -> torch.Tensor:
    """The first ``num`` latents ``rng`` yields, drawn :data:`LATENT_BLOCK` at a time whatever ``num``:
    torch's normal sampler draws other numbers for a short request than for the first rows of a long one
    (it changes method at 16 values), and the k-th image of a seed must not depend on how many were asked
    for."""
    return seeded_inputs(rng, num, latent_dim)[0]


def seeded_inputs(
    rng: torch.Generator,
    num: int,
    latent_dim: int,
    labels: LabelDistribution | None = None,
    truncation: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`seeded_latents`, and with ``labels`` (a conditional generator's label distribution) as many
    label rows, each block's drawn right after its latents: the k-th image's latent and labels depend only
    on the seed, and an unconditional request draws exactly what it always drew. With ``truncation`` (psi)
    each block's latents are then truncated (:func:`truncated`)."""
    z_blocks, label_blocks = [], []
    for _ in range(-(-num // LATENT_BLOCK)):
        z_blocks.append(torch.randn(LATENT_BLOCK, latent_dim, device=rng.device, generator=rng))
        if labels is not None:
            label_blocks.append(labels.draw(LATENT_BLOCK, rng))
        if truncation is not None:
            z_blocks[-1] = truncated(z_blocks[-1], truncation, rng)
    z = torch.cat(z_blocks)[:num]
    return z, (torch.cat(label_blocks)[:num] if labels is not None else None)


def truncation_problem(psi: object) -> str | None:
    """Why ``psi`` cannot be a truncation (it must be a finite number above 0), or None: the one check
    that ``ganlab generate``, ``ganlab evaluate`` and the Python API apply."""
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi) or psi <= 0:
        return f"a truncation psi must be a finite number above 0 (0.5 to 1 is usual), not {psi!r}"
    return None


def truncated(z: torch.Tensor, psi: float, rng: torch.Generator) -> torch.Tensor:
    """The truncation trick (Brock et al., BigGAN): every entry of ``z`` with ``|z_i| > psi`` resampled
    from the standard normal until it falls inside ``[-psi, psi]``, entries inside kept as drawn. The
    resampling is done in one draw, by the inverse CDF of the normal truncated to ``[-psi, psi]`` (what
    endless redrawing converges to, and as fast for a psi of 0.01 as of 2); one uniform number is drawn per
    entry, so a block's labels and the blocks after it never depend on how many entries were outside."""
    u = torch.rand(z.shape, device=rng.device, generator=rng, dtype=torch.float64)
    low = torch.special.ndtr(torch.tensor(-psi, dtype=torch.float64))
    inside = torch.special.ndtri(low + u * (1 - 2 * low)).clamp_(-psi, psi).to(z.dtype)
    return torch.where(z.abs() > psi, inside, z)


def generate_images(
    generator: nn.Module,
    num: int,
    rng: torch.Generator,
    device: torch.device,
    batch_size: int = 256,
    labels: LabelDistribution | None = None,
    fixed: torch.Tensor | None = None,
    truncation: float | None = None,
) -> torch.Tensor:
    """``num`` images from :func:`seeded_inputs` (truncated at ``truncation``, when given) run on ``device``,
    ``batch_size`` at a time: how a run and ``ganlab generate`` both sample, so the same seed gives the same
    images in either.

    A conditional generator's labels are drawn from ``labels`` (its data's label distribution), and
    ``fixed`` (int64 ``(num, A)``, or one row for every image; -1 where not fixed) replaces the drawn values
    it fixes; the labels are drawn even where all are fixed, so a seed's latents never depend on which
    labels were asked for."""
    z, drawn = seeded_inputs(rng, num, generator.latent_dim, labels if is_conditional(generator) else None, truncation)
    if drawn is not None and fixed is not None:
        drawn = torch.where(fixed >= 0, fixed.to(drawn.device), drawn)
    return sample(generator, z.to(device), batch_size, drawn)
