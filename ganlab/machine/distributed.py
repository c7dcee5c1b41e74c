"""Multi-process training through torch.distributed: which process am I, and the few collectives used.

ganlab never launches processes itself: ``ganlab run --nproc N`` hands the command to torchrun
(``torch.distributed.run``), and ``torchrun --nproc-per-node N -m ganlab run ...`` works the same.
Each process learns its rank from torchrun's environment variables; without them it is a world of one
and every collective here is a no-op.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from ..common.errors import ConfigError
from ..common.whole_numbers import FORM, parse_whole_number, shown


@dataclasses.dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes the run directory, checkpoints and the report."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    return World(_from_env("RANK", 0), _from_env("WORLD_SIZE", 1), _from_env("LOCAL_RANK", 0))


def _from_env(variable: str, default: int) -> int:
    """A whole number torchrun put in the environment; one set otherwise (by hand, by another launcher)
    that is not a whole number is a ConfigError naming it, not a ValueError from ``int``."""
    text = os.environ.get(variable)
    if text is None:
        return default
    number = parse_whole_number(text.strip())
    if number is None:
        raise ConfigError(
            variable,
            f"the environment variable is {shown(text)}, not {FORM}; torchrun sets it "
            f"(unset it to train in one process)",
        )
    return number


def join(device: torch.device) -> tuple[World, torch.device]:
    """This process's place in the world and its device; joins the process group when there are several.

    NCCL connects CUDA processes, gloo the others. With several processes on CUDA each takes the GPU of
    its local rank.
    """
    world = world_from_env()
    if world.distributed:
        if device.type == "cuda":
            torch.cuda.set_device(world.local_rank)
            device = torch.device("cuda", world.local_rank)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            atexit.register(leave_before_exit)
    return world, device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def leave_before_exit() -> None:
    """Free the process group while the interpreter still runs, not in its final garbage collection.

    ``destroy_process_group`` drops only the registry's reference: DistributedDataParallel wrappers hold
    the group too, and they sit in reference cycles (a module's hooks refer back to it) that only the
    collector frees. Left to the collection at interpreter exit, gloo's worker threads then outlive
    Python: one that drops the last reference to a finished collective must take the GIL to free its
    tensors, which a finalising interpreter refuses by ending the thread, and the process aborts
    ("terminate called without an active exception", torch issue 190489). Run at exit, when no frame
    holds the run any more, a collection frees the wrappers and so the group, whose destructor joins
    its threads while they can still take the GIL.
    """
    shutdown()
    gc.collect()


def broadcast(world: World, value: Any) -> Any:
    """The main process's ``value`` on every process (e.g. the run directory it created)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree(world: World, decision: bool) -> bool:
    """The main process's ``decision`` everywhere, for choices that depend on its clock (timed checkpoints):
    every process must take the same branch before a collective operation."""
    return bool(broadcast(world, decision))


def largest(world: World, value: int, device: torch.device) -> int:
    """The largest of every process's ``value``: how processes agree on a stop signal that reached only
    some of them (0 for none). ``device`` is this process's, where NCCL needs the number to be."""
    if not world.distributed:
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def mean(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over processes, so every process logs the same global numbers."""
    if not world.distributed:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / world.size


def mean_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` averaged over this process's torchrun world (unchanged in a world of one): what a
    component that steers by its own statistics (an adaptive augmentation) uses, so that every process
    steers alike."""
    return mean(world_from_env(), tensor)


def draw_for_global_batch(
    draw: Callable[[int], torch.Tensor], local_size: int, world: World | None = None
) -> torch.Tensor:
    """This process's ``local_size`` rows of ``draw(global_batch_size)``: per-image random numbers, drawn as
    one process training on the whole global batch would draw them.

    Every process starts from the same random state, so each draws the same global tensor and keeps its
    own rows. N processes then use the numbers one process would, instead of each reusing the first rows,
    and their random states stay equal, which resuming relies on: a checkpoint holds the main process's
    state for all of them. ``world`` defaults to this process's place in the torchrun world.
    """
    world = world or world_from_env()
    rows = draw(local_size * world.size)
    return rows[world.rank * local_size : (world.rank + 1) * local_size]


def launch(nproc: int, argv: list[str]) -> int:
    """Re-run ``ganlab`` with ``argv`` under torchrun on ``nproc`` local processes; returns the exit code.

    A stop signal to this process reaches torchrun's agent, which forwards it to the training processes
    (they stop at a step boundary, see :meth:`ganlab.training.loop.Trainer._stop_agreed`) and waits for them; the
    command then exits with the signal's code, 130 or 143, as a single process would.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--nproc-per-node", str(nproc), "--standalone", "-m", "ganlab", *argv])
    try:
        run(args)
    except SignalException as e:
        return 128 + int(e.sigval)
    except Exception as e:  # torchrun raises ChildFailedError with the failing rank's details
        print(f"ganlab: error: distributed run failed: {e}", flush=True)
        return 1
    return 0
