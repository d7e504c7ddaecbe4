"""The seed nodes each process takes at each step of an epoch, for data-parallel training."""

from __future__ import annotations

import torch
from torch import Tensor

from fgsam._random import derive_seed


class SeedShard:
    r"""One seed order per epoch, split over ``world_size`` processes step by step, as
    :class:`torch.utils.data.DistributedSampler` splits a dataset, but in batches.

    The epoch's order is one permutation of the ``num_seeds`` positions, the same on every
    rank: drawn from a generator seeded with ``derive_seed(seed, f"seed_order/{epoch}")``
    when ``shuffle``, the natural order otherwise. With :math:`B` = ``batch_size`` and
    :math:`W` = ``world_size``, global step :math:`t` covers ``order[t*B*W:(t+1)*B*W]``
    and rank :math:`r` takes its positions ``[r*B:(r+1)*B]``, so the ranks' batches of a
    step, concatenated in rank order, are the step's batch of one process with batch size
    :math:`BW`. A last, partial step of :math:`m` seeds is split into :math:`W` near-equal
    contiguous parts (:func:`torch.tensor_split`) in rank order; it is skipped with
    ``drop_last``, and also when :math:`m < W` (some rank would get no seed): those
    :math:`m` seeds are left out of that epoch. Every rank thus has the same number of
    steps, which :class:`~torch.nn.parallel.DistributedDataParallel` needs.

    Args:
        num_seeds (int): the number of seed nodes.
        batch_size (int): seeds per step on each rank. (default: ``1``)
        rank (int, optional): this process's rank. (default: ``0``)
        world_size (int, optional): the number of processes. (default: ``1``)
        shuffle (bool, optional): a fresh order every epoch. (default: ``False``)
        drop_last (bool, optional): skip the last, partial step. (default: ``False``)
        seed (int, optional): the seed of the epochs' orders. (default: ``0``)

    Example:
        >>> shard = SeedShard(10, batch_size=2, rank=1, world_size=2)
        >>> order = shard.order(epoch=0)
        >>> [shard.positions(order, t).tolist() for t in range(len(shard))]
        [[2, 3], [6, 7], [9]]
    """

    def __init__(self, num_seeds: int, batch_size: int = 1, *, rank: int = 0,
                 world_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int = 0, name: str = "input_nodes") -> None:
        check_world(rank, world_size, num_seeds, name)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.num_seeds, self.batch_size = num_seeds, batch_size
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), seed
        step = batch_size * world_size
        self.full_steps, self.remainder = divmod(num_seeds, step)
        self.partial = not drop_last and self.remainder >= world_size

    def __len__(self) -> int:
        """Steps per epoch, the same on every rank."""
        return self.full_steps + int(self.partial)

    def order(self, epoch: int) -> Tensor:
        """The epoch's permutation of ``0 .. num_seeds - 1`` (on the CPU, so that every
        rank and device draws the same one)."""
        if not self.shuffle:
            return torch.arange(self.num_seeds)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, f"seed_order/{epoch}"))
        return torch.randperm(self.num_seeds, generator=generator)

    def positions(self, order: Tensor, step: int, rank: int | None = None) -> Tensor:
        """Rank ``rank``'s (default: this rank's) positions of ``order`` at ``step``."""
        rank = self.rank if rank is None else rank
        if not 0 <= step < len(self):
            raise IndexError(f"step {step} is outside 0..{len(self) - 1}")
        span = self.batch_size * self.world_size
        if step < self.full_steps:
            start = step * span + rank * self.batch_size
            return order[start:start + self.batch_size]
        # The partial step: near-equal contiguous parts, so rank order keeps the seed order.
        return torch.tensor_split(order[step * span:], self.world_size)[rank]

    def __repr__(self) -> str:
        return (f"SeedShard(num_seeds={self.num_seeds}, batch_size={self.batch_size}, "
                f"rank={self.rank}, world_size={self.world_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, steps={len(self)})")


def check_world(rank: int, world_size: int, num_seeds: int, name: str = "input_nodes") -> None:
    """One-line ``ValueError`` unless ``rank`` in ``0 .. world_size - 1`` and every one of
    the ``world_size`` processes can get at least one of the ``num_seeds`` seeds."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1 (the number of processes), got "
                         f"{world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank!r} is not a rank of world_size={world_size}: use an int "
                         f"in 0..{world_size - 1}")
    if num_seeds == 0:
        raise ValueError(f"{name} has no seed nodes: there is nothing to sample batches around")
    if world_size > num_seeds:
        raise ValueError(f"world_size={world_size} is larger than the {num_seeds} seed nodes of "
                         f"{name}: every process needs at least one seed node; use at most "
                         f"{num_seeds} processes")


__all__ = ["SeedShard", "check_world"]
