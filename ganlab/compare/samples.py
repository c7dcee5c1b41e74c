"""Each run's final samples, drawn from the same latent vectors wherever the runs' latent sizes match.

A run's own grids use its own fixed noise, which depends on its seed and grid size; two runs' grids then
show different faces and cannot be compared image by image. So the final generator of every run is loaded
from its newest valid checkpoint and fed the fixed noise of the first run with the same latent size: the
same position in two grids is the same latent vector. A run whose generator cannot be loaded (no valid
checkpoint yet, its plugin not installed here) shows its own last saved grid, and the page says so. A
conditional generator draws its labels from its data's label distribution with seed 0, after the latents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from ..common.errors import GanlabError
from ..loading.manager import Plugins
from ..page.grids import grid_png
from ..training.conditioning import LabelDistribution, is_conditional
from ..training.generate import generator_from_state, label_distribution
from ..training.sampling import sample, seeded_rng
from .compared_run import ComparedRun


@dataclasses.dataclass(frozen=True)
class FinalGrid:
    run: ComparedRun
    png: bytes | None
    caption: str
    latent: int | None
    """The latent size of the generator that drew it; None when no generator could be loaded."""


@dataclasses.dataclass
class _Loaded:
    generator: torch.nn.Module
    fixed_noise: torch.Tensor
    checkpoint: str
    epoch: int
    labels: LabelDistribution | None = None
    """A conditional generator's label distribution; None for an unconditional one."""


def final_grids(runs: Sequence[ComparedRun], plugins: Plugins) -> list[FinalGrid]:
    loaded = {run.name: _load(run, plugins) for run in runs}
    noise_by_latent: dict[int, tuple[str, torch.Tensor]] = {}
    grids = []
    for run in runs:
        found = loaded[run.name]
        if isinstance(found, str):
            grids.append(_saved_grid(run, found))
            continue
        latent = int(found.generator.latent_dim)
        owner, noise = noise_by_latent.setdefault(latent, (run.name, found.fixed_noise))
        with torch.no_grad():
            labels = found.labels.draw(len(noise), seeded_rng(0)) if found.labels is not None else None
            png = grid_png(sample(found.generator, noise, labels=labels))
        source = "its own fixed noise" if owner == run.name else f"the fixed noise of {owner}"
        grids.append(
            FinalGrid(
                run,
                png,
                f"{run.name}: checkpoint {found.checkpoint} (epoch {found.epoch}), latent size {latent}, {source}",
                latent,
            )
        )
    return grids


def _load(run: ComparedRun, plugins: Plugins) -> _Loaded | str:
    """The run's final generator and fixed noise, or why they cannot be had."""
    try:
        found = run.run_dir.checkpoint_store.newest_valid(lambda message: None)
        if found is None:
            return "no valid checkpoint"
        record, state = found
        generator = generator_from_state(state, run.run_dir.checkpoints_dir / record.file, plugins, torch.device("cpu"))
        path = run.run_dir.checkpoints_dir / record.file
        distribution = label_distribution(state, path) if is_conditional(generator) else None
        return _Loaded(generator, state["fixed_noise"].cpu(), record.file, record.epoch, distribution)
    except GanlabError as e:
        return str(e)
    except Exception as e:  # a plugin's generator is not ours to trust with the whole page
        return f"{type(e).__name__}: {e}"


def _saved_grid(run: ComparedRun, why: str) -> FinalGrid:
    grids = run.run_dir.sample_grids()
    if not grids:
        return FinalGrid(run, None, f"{run.name}: no samples ({why}, and no grid was saved)", None)
    epoch, path = grids[-1]
    return FinalGrid(
        run,
        path.read_bytes(),
        f"{run.name}: its own saved grid after epoch {epoch}, from its own "
        f"fixed noise (its generator could not be loaded: {why})",
        None,
    )
