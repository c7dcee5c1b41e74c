"""Multi-process training through torch.distributed: which process am I, and the few collectives used.

ganlab never launches processes itself: ``ganlab run --nproc N`` hands the command to torchrun
(``torch.distributed.run``), and ``torchrun --nproc-per-node N -m ganlab run ...`` works the same.
Each process learns its rank from torchrun's environment variables; without them it is a world of one
and every collective here is a no-op.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
import torch.distributed as dist


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
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def init(world: World, device_type: str) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise) once per process."""
    if world.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(world: World, device: torch.device) -> torch.device:
    """With several processes on CUDA, each takes the GPU of its local rank."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def broadcast(world: World, value: Any) -> Any:
    """The main process's ``value`` on every process (e.g. the run directory it created)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over processes, so every process logs the same global numbers."""
    if not world.distributed:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / world.size


def launch(nproc: int, argv: list[str]) -> int:
    """Re-run ``ganlab`` with ``argv`` under torchrun on ``nproc`` local processes; returns the exit code."""
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--nproc-per-node", str(nproc), "--standalone", "-m", "ganlab", *argv])
    try:
        run(args)
    except Exception as e:  # torchrun raises ChildFailedError with the failing rank's details
        print(f"ganlab: error: distributed run failed: {e}", flush=True)
        return 1
    return 0
