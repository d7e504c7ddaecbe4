"""One call for a node-classification loader of sampled neighbourhoods: PyG's
NeighborLoader where its compiled sampler is installed, fgsam's NeighborSampler otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from fgsam._random import derive_seed
from fgsam.data.neighbor_sampler import NeighborSampler
from fgsam.data.sampler_arguments import graph_nodes, seed_nodes
from fgsam.data.seed_shard import check_world

BACKENDS = ("auto", "fgsam", "pyg")


def pyg_sampler_available() -> bool:
    """Whether PyG's :class:`~torch_geometric.loader.NeighborLoader` can sample here (it
    needs ``pyg-lib`` or ``torch-sparse``)."""
    import torch_geometric.typing

    return bool(torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE)


def neighbor_loader(data, num_neighbors: Sequence[int], *, input_nodes: Tensor | None = None,
                    batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                    seed: int = 0, rank: int = 0, world_size: int = 1, num_workers: int = 0,
                    features=None, backend: str = "auto"):
    r"""Mini-batches of sampled neighbourhoods (`"Inductive Representation Learning on
    Large Graphs" <https://arxiv.org/abs/1706.02216>`_, Hamilton et al., NeurIPS 2017) for
    this process's share of the seed nodes, from PyG's loader or fgsam's.

    ``backend="fgsam"`` returns a :class:`~fgsam.data.neighbor_sampler.NeighborSampler`:
    pure PyTorch, seed orders and draws derived from ``seed`` (the same batches in any
    process and with any ``num_workers``), one seed order per epoch split over the ranks
    step by step (call ``set_epoch`` every epoch), node features on disk. ``"pyg"`` returns
    a :class:`~torch_geometric.loader.NeighborLoader` (it needs ``pyg-lib`` or
    ``torch-sparse``) over this rank's fixed shard of the seeds, ``input_nodes[rank::
    world_size]`` cut to ``len(input_nodes) // world_size`` seeds so that every rank has as
    many batches (the other seeds are left out); it shuffles within the shard with a
    generator seeded from ``seed``, and its neighbour draws come from torch's global
    generator. ``"auto"`` takes ``"pyg"`` when it can sample here and ``features`` is not
    given, else ``"fgsam"``.

    Args:
        data (torch_geometric.data.Data): the graph.
        num_neighbors (sequence of int): in-edges sampled per node at each hop (``-1``
            takes all).
        input_nodes (torch.Tensor, optional): the seed nodes, as distinct ids or a boolean
            mask; ``None`` means every node. (default: ``None``)
        batch_size (int, optional): seed nodes per batch on each rank. (default: ``1``)
        shuffle (bool, optional): a fresh order every epoch. (default: ``False``)
        drop_last (bool, optional): skip the last, smaller batch. (default: ``False``)
        seed (int, optional): the seed of the orders (and of fgsam's draws).
            (default: ``0``)
        rank (int, optional): this process's rank. (default: ``0``)
        world_size (int, optional): the number of processes. (default: ``1``)
        num_workers (int, optional): DataLoader workers building the batches.
            (default: ``0``)
        features (array-like, optional): node features in place of ``data.x``, e.g. a
            :func:`~fgsam.data.row_features.memmap_features` file (``"fgsam"`` only).
            (default: ``None``)
        backend (str, optional): one of :data:`BACKENDS`. (default: ``"auto"``)

    Example:
        >>> loader = neighbor_loader(data, [10, 5], input_nodes=data.train_mask,
        ...                          batch_size=1024, shuffle=True, seed=0,
        ...                          rank=ctx.rank, world_size=ctx.world_size)
        >>> for batch in loader:
        ...     out = model(batch.x, batch.edge_index)[: batch.batch_size]
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if backend == "auto":
        backend = "pyg" if features is None and pyg_sampler_available() else "fgsam"
    if backend == "fgsam":
        return NeighborSampler(data, num_neighbors, input_nodes, batch_size, shuffle,
                               drop_last, seed, rank=rank, world_size=world_size,
                               num_workers=num_workers, features=features)
    if features is not None:
        raise ValueError("features (node features in place of data.x) needs "
                         "backend='fgsam' or 'auto': PyG's NeighborLoader reads data.x")
    if not pyg_sampler_available():
        raise ImportError("backend='pyg' needs pyg-lib or torch-sparse, which PyG's "
                          "NeighborLoader samples with: install one, or use backend='fgsam'")
    from torch_geometric.loader import NeighborLoader

    nodes = seed_nodes(input_nodes, graph_nodes(data), data.edge_index.device)
    check_world(rank, world_size, nodes.numel())
    # Strided as DistributedSampler, and cut so that every rank has as many batches.
    shard = nodes[rank:(nodes.numel() // world_size) * world_size:world_size]
    return NeighborLoader(data, list(num_neighbors), input_nodes=shard, batch_size=batch_size,
                          shuffle=shuffle, drop_last=drop_last, num_workers=num_workers,
                          generator=torch.Generator().manual_seed(derive_seed(seed,
                                                                              "pyg_order")))


__all__ = ["BACKENDS", "neighbor_loader", "pyg_sampler_available"]
