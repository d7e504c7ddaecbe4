"""Data-parallel training over processes (``torchrun``): ranks, reductions, gathers (the
shared layer: ``fgsam mol`` and ``fgsam node`` both run under it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes (one process: rank 0 of 1).

    Args:
        rank (int): global rank. (default: ``0``)
        world_size (int): number of processes. (default: ``1``)
        local_rank (int): rank on this machine (the GPU index). (default: ``0``)
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that prints and writes files)."""
        return self.rank == 0

    def mean(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over the processes (``value`` itself for one process)."""
        if not self.enabled:
            return value
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world_size

    def gather(self, value: Tensor) -> Tensor:
        """Every process's ``value`` (same shape on all) concatenated along dim 0, in
        rank order, on every process."""
        if not self.enabled:
            return value
        parts = [torch.empty_like(value) for _ in range(self.world_size)]
        dist.all_gather(parts, value.contiguous())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def launched_distributed() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str | torch.device) -> tuple[DistributedContext, torch.device]:
    """Join the process group ``torchrun`` describes in the environment.

    Uses NCCL on CUDA (one GPU per local rank) and gloo on CPU. Returns the context and
    this process's device. Without ``torchrun`` (one process) nothing is initialised.
    """
    device = torch.device(device)
    if not launched_distributed():
        return DistributedContext(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world, local), device


def shutdown_distributed(ctx: DistributedContext) -> None:
    """Leave the process group (if one was joined)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["DistributedContext", "init_distributed", "launched_distributed",
           "shutdown_distributed"]
