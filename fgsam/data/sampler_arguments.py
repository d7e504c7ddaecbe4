"""The argument checks of :class:`~fgsam.data.neighbor_sampler.NeighborSampler`, each a
one-line ``ValueError`` naming the argument, the value and what is valid."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from fgsam._random import make_generator


def graph_nodes(data) -> int:
    edge_index = getattr(data, "edge_index", None)
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"data needs an edge_index of shape [2, E], got "
                         f"{None if edge_index is None else tuple(edge_index.shape)}")
    if edge_index.dtype != torch.long:
        raise ValueError(f"data.edge_index must be a long tensor, got {edge_index.dtype}")
    n = int(data.num_nodes)
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"data.edge_index has node ids {int(edge_index.min())}.."
                         f"{int(edge_index.max())}, outside 0..{n - 1} (num_nodes={n})")
    return n


def fan_outs(num_neighbors: Sequence[int]) -> tuple[int, ...]:
    values = tuple(num_neighbors) if isinstance(num_neighbors, (list, tuple)) else None
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or k < -1 or k == 0
                         for k in values):
        raise ValueError(f"num_neighbors must be a non-empty list of positive ints (or -1 for "
                         f"all in-neighbours), one per hop, got {num_neighbors!r}")
    return values


def seed_nodes(nodes: Tensor | None, n: int, device: torch.device) -> Tensor:
    if nodes is None:
        return torch.arange(n, device=device)
    nodes = torch.as_tensor(nodes, device=device)
    if nodes.dtype == torch.bool:
        if nodes.shape != (n,):
            raise ValueError(f"input_nodes as a mask must have shape ({n},), got "
                             f"{tuple(nodes.shape)}")
        return nodes.nonzero().view(-1)
    if nodes.is_floating_point() or nodes.is_complex() or nodes.dim() != 1:
        raise ValueError(f"input_nodes must be a 1-D tensor of node ids or a boolean mask, got "
                         f"dtype {nodes.dtype} and shape {tuple(nodes.shape)}")
    nodes = nodes.long()
    if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= n):
        raise ValueError(f"input_nodes has ids {int(nodes.min())}..{int(nodes.max())}, "
                         f"outside 0..{n - 1}")
    if torch.unique(nodes).numel() != nodes.numel():
        raise ValueError("input_nodes has duplicates: seed nodes must be distinct")
    return nodes


def seed_or_generator(generator: int | torch.Generator | None, device: torch.device
                       ) -> tuple[int | None, torch.Generator | None]:
    """``(seed, None)`` for an int seed (``None`` means ``0``, this sampler's documented
    default) and ``(None, generator)`` for a generator on the graph's device."""
    if isinstance(generator, torch.Generator):
        return None, make_generator(generator, device)  # refuses another device's
    if generator is None:
        return 0, None
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"generator must be an int seed or a torch.Generator, got "
                         f"{generator!r}")
    return generator, None


def worker_count(num_workers: int, persistent: bool, generator: torch.Generator | None,
             world_size: int, device: torch.device) -> tuple[int, bool]:
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    if persistent and not num_workers:
        raise ValueError("persistent_workers=True needs num_workers > 0, got num_workers=0")
    if generator is not None and num_workers:
        raise ValueError(f"num_workers={num_workers} cannot use a torch.Generator, which "
                         f"only this process can advance: pass an int seed as generator")
    if generator is not None and world_size > 1:
        raise ValueError(f"world_size={world_size} cannot use a torch.Generator, whose state "
                         f"no rank shares with the others: pass an int seed as generator, "
                         f"the same on every rank")
    if num_workers and device.type != "cpu":
        raise ValueError(f"num_workers={num_workers} needs the graph on the CPU, not "
                         f"{device} (workers cannot sample there): keep data on the CPU "
                         f"and move the batches, or use num_workers=0")
    return num_workers, bool(persistent)


__all__ = ["fan_outs", "graph_nodes", "seed_nodes", "seed_or_generator", "worker_count"]
