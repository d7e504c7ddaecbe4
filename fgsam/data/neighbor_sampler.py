"""Mini-batches of sampled neighbourhoods, in pure PyTorch (no compiled extensions)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from fgsam._random import derive_seed, make_generator
from fgsam.data.row_features import check_features, portable, read_rows, restored
from fgsam.data.sampler_arguments import (
    fan_outs,
    graph_nodes,
    seed_nodes,
    seed_or_generator,
    worker_count,
)
from fgsam.data.seed_shard import SeedShard


class NeighborSampler:
    r"""Neighbour sampling from `"Inductive Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ (Hamilton et al., NeurIPS 2017), with the batches
    of PyG's :class:`~torch_geometric.loader.NeighborLoader` and no compiled extension.

    The seed nodes :math:`S_0` of a batch form hop 0; hop :math:`h` draws, for every node
    :math:`v` first reached at hop :math:`h - 1`, a uniform sample without replacement of
    its in-edges,

    .. math::
        E_h(v) \sim \mathrm{Uniform}\{A \subseteq \{(u, v) \in E\} :
        |A| = \min(\deg^-(v), k_h)\},

    (all of them when :math:`k_h = -1`), and the new sources join the batch. The batch is
    the subgraph of the sampled edges (``subgraph_type="directional"`` in PyG's terms):
    ``edge_index`` points from sampled neighbours to their targets, so a :math:`H`-layer
    message-passing model computes the seed rows from their :math:`H`-hop sample. Sampling
    is vectorised per hop (Floyd's algorithm over the fan-out, no loop over nodes) on a CSC
    copy of the graph, on the graph's device.

    Each batch is a :class:`~torch_geometric.data.Data` with the ``batch_size`` seed nodes
    first and, as in NeighborLoader: ``n_id`` (the graph's node ids of the batch's nodes),
    ``e_id`` (edge ids of the sampled edges), ``input_id`` (positions of the seeds in
    ``input_nodes``), ``batch_size``, ``num_sampled_nodes`` and ``num_sampled_edges`` (per
    hop); every node-level attribute (``x`` dense or sparse COO, ``y``, masks) sliced by
    ``n_id`` and every edge-level one (``edge_attr``, ``edge_weight``) by ``e_id``.
    Sampling is over edges: a multigraph may give a neighbour twice. With ``features``
    (e.g. a :func:`~fgsam.data.row_features.memmap_features` file), ``x`` holds only the
    batch's rows of it, read in increasing row order, as a floating-point tensor.

    Data-parallel training (``torchrun``): every rank builds the sampler with its ``rank``
    and the ``world_size`` and calls :meth:`set_epoch` before each epoch. An epoch's seed
    order is one permutation, the same on every rank (from ``derive_seed(seed,
    f"seed_order/{epoch}")`` when ``shuffle``, the natural order otherwise); global step
    :math:`t` takes ``batch_size * world_size`` seeds of it, rank :math:`r` the
    :math:`r`-th ``batch_size`` of them, so the ranks' batches of a step, concatenated in
    rank order, have the seeds of step :math:`t` of one process with batch size
    ``batch_size * world_size``. Every rank gets ``len(sampler)`` batches: the last,
    partial step is split into ``world_size`` near-equal parts, and skipped (its seeds
    left out of that epoch) with ``drop_last`` or when it has fewer seeds than ranks (see
    :class:`~fgsam.data.seed_shard.SeedShard`). The neighbour draws of a batch come from a
    generator seeded with ``derive_seed(seed, f"neighbor_draws/{epoch}/{t}/{rank}")``, so a
    batch is the same in any process and with any ``num_workers``. An iteration without
    :meth:`set_epoch` runs the next epoch: epochs 0, 1, 2, ... in turn.

    Symmetric GCN normalisation needs the degrees of the full graph, which a sampled
    subgraph does not have: compute it once on the full graph (with
    :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`) as ``edge_weight`` and use
    ``GCNConv(normalize=False)``; the sampler slices the weights with the edges.

    Args:
        data (torch_geometric.data.Data): the graph, with ``edge_index`` and ``num_nodes``.
        num_neighbors (sequence of int): in-edges sampled per node at each hop (one entry
            per hop; ``-1`` takes all).
        input_nodes (torch.Tensor, optional): the seed nodes, as distinct node ids or a
            boolean mask; ``None`` means every node. (default: ``None``)
        batch_size (int, optional): seed nodes per batch, on each rank. (default: ``1``)
        shuffle (bool, optional): a fresh order of the seed nodes every epoch.
            (default: ``False``)
        drop_last (bool, optional): skip the last, smaller batch. (default: ``False``)
        generator (int or torch.Generator, optional): a seed, or a generator on the
            graph's device that the sampler uses (and advances) as is for the orders and
            the draws, in this process (so only with ``world_size=1`` and
            ``num_workers=0``); ``None`` means seed ``0``. (default: ``None``)
        rank (int, optional): this process's rank. (default: ``0``)
        world_size (int, optional): the number of processes, at most the number of seed
            nodes. (default: ``1``)
        num_workers (int, optional): :class:`~torch.utils.data.DataLoader` worker
            processes that build the batches ahead (the same batches, in the same order);
            ``0`` builds them in this process. Needs the graph on the CPU.
            (default: ``0``)
        persistent_workers (bool, optional): keep the workers from one epoch to the
            next. (default: ``False``)
        features (array-like, optional): the node features in place of ``data.x``: an
            :class:`numpy.memmap`, :class:`numpy.ndarray`, tensor or any object with a
            ``.shape`` indexable by an array of increasing row ids (h5py-like), one row
            per node. (default: ``None``)

    Example:
        >>> sampler = NeighborSampler(data, [10, 5], input_nodes=data.train_mask,
        ...                           batch_size=1024, shuffle=True, generator=0,
        ...                           rank=ctx.rank, world_size=ctx.world_size)
        >>> for epoch in range(epochs):
        ...     sampler.set_epoch(epoch)
        ...     for batch in sampler:
        ...         out = model(batch.x, batch.edge_index)[: batch.batch_size]
        ...         loss = F.cross_entropy(out, batch.y[: batch.batch_size])
    """

    def __init__(self, data, num_neighbors: Sequence[int], input_nodes: Tensor | None = None,
                 batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: int | torch.Generator | None = None, *, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, persistent_workers: bool = False,
                 features=None) -> None:
        self.data = data
        self.num_nodes = graph_nodes(data)
        self.num_neighbors = fan_outs(num_neighbors)
        edge_index = data.edge_index
        self.device = edge_index.device
        self.input_nodes = seed_nodes(input_nodes, self.num_nodes, self.device)
        self.seed, self.generator = seed_or_generator(generator, self.device)
        self.shard = SeedShard(self.input_nodes.numel(), batch_size, rank=rank,
                               world_size=world_size, shuffle=shuffle, drop_last=drop_last,
                               seed=0 if self.seed is None else self.seed)
        self.batch_size, self.shuffle, self.drop_last = batch_size, bool(shuffle), drop_last
        self.rank, self.world_size = rank, world_size
        self.num_workers, self.persistent_workers = worker_count(
            num_workers, persistent_workers, self.generator, world_size, self.device)
        self.features = None if features is None else check_features(features, self.num_nodes)
        self.epoch = 0
        # CSC: the in-edges of node v are sources[colptr[v]:colptr[v + 1]].
        self._perm = torch.argsort(edge_index[1], stable=True)
        self._sources = edge_index[0, self._perm]
        counts = torch.bincount(edge_index[1], minlength=self.num_nodes)
        self._colptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self._local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
        self._coo: dict[str, tuple[Tensor, Tensor]] = {}  # sparse features and row pointers
        self._loader: DataLoader | None = None
        self._free: torch.Generator | None = self.generator  # the draws of sample()

    def __len__(self) -> int:
        return len(self.shard)

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the next iteration (its seed order and draws), as
        :meth:`torch.utils.data.DistributedSampler.set_epoch`: call it on every rank."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch

    def __iter__(self) -> Iterator:
        # Advanced here, not on the first batch: set_epoch after iter() cannot change it.
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self._prefetched(epoch) if self.num_workers else self._in_process(epoch)

    def _in_process(self, epoch: int) -> Iterator:
        order = self._order(epoch)
        for step in range(len(self)):
            yield self._step(order, epoch, step)

    def _prefetched(self, epoch: int) -> Iterator:
        if self._loader is None or not self.persistent_workers:
            # Its own generator: the workers' base seed would otherwise come from torch's.
            self._loader = DataLoader(
                _Steps(self), batch_size=None, sampler=_EpochSteps(len(self)),
                num_workers=self.num_workers, persistent_workers=self.persistent_workers,
                collate_fn=_identity,
                generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers")))
        self._loader.sampler.epoch = epoch
        yield from self._loader

    def _order(self, epoch: int) -> Tensor:
        """The epoch's order of the positions in ``input_nodes``."""
        if self.generator is None:
            return self.shard.order(epoch).to(self.device)
        n = self.input_nodes.numel()
        if self.shuffle:
            return torch.randperm(n, generator=self.generator, device=self.device)
        return torch.arange(n, device=self.device)

    def _step(self, order: Tensor, epoch: int, step: int):
        """This rank's batch of global step ``step`` of ``epoch``."""
        input_id = self.shard.positions(order, step)
        generator = self.generator if self.generator is not None else make_generator(
            derive_seed(self.seed, f"neighbor_draws/{epoch}/{step}/{self.rank}"), self.device)
        return self._batch(self.input_nodes[input_id], input_id, generator)

    def sample(self, seeds: Tensor) -> object:
        """One batch around the given distinct seed node ids (e.g. for inference)."""
        seeds = seed_nodes(seeds, self.num_nodes, self.device)
        if self._free is None:  # one stream over the calls, apart from the epochs' draws
            self._free = make_generator(derive_seed(self.seed, "sample"), self.device)
        return self._batch(seeds, torch.arange(seeds.numel(), device=self.device), self._free)

    def _batch(self, seeds: Tensor, input_id: Tensor, generator: torch.Generator):
        from torch_geometric.data import Data

        local = self._local
        n_id, rows, cols, e_ids = [seeds], [], [], []
        local[seeds] = torch.arange(seeds.numel(), device=self.device)
        count, frontier = seeds.numel(), seeds
        try:
            for k in self.num_neighbors:
                targets, pos = self._sample_in_edges(frontier, k, generator)
                sources = self._sources[pos]
                new = torch.unique(sources[local[sources] < 0])  # sorted: deterministic
                local[new] = torch.arange(count, count + new.numel(), device=self.device)
                count, frontier = count + new.numel(), new
                n_id.append(new)
                rows.append(local[sources])
                cols.append(local[targets])
                e_ids.append(self._perm[pos])
        finally:
            local[torch.cat(n_id)] = -1  # the map is reused by the next batch
        n_id_all, e_id = torch.cat(n_id), torch.cat(e_ids)
        batch = Data(edge_index=torch.stack([torch.cat(rows), torch.cat(cols)]),
                     num_nodes=count)
        if self.features is not None:  # in place of data.x: only the batch's rows are read
            batch.x = read_rows(self.features, n_id_all)
        for key, value in self.data.items():
            if key in ("edge_index", "num_nodes") or (key == "x" and "x" in batch):
                continue
            if not isinstance(value, Tensor):
                batch[key] = value
            elif self.data.is_node_attr(key):
                batch[key] = self._rows(key, value, n_id_all.to(value.device))
            elif self.data.is_edge_attr(key):
                batch[key] = torch.index_select(value, 0, e_id.to(value.device))
            else:
                batch[key] = value
        batch.num_nodes = count
        batch.n_id, batch.e_id, batch.input_id = n_id_all, e_id, input_id
        batch.batch_size = int(seeds.numel())
        batch.num_sampled_nodes = [int(t.numel()) for t in n_id]
        batch.num_sampled_edges = [int(t.numel()) for t in e_ids]
        return batch

    def _rows(self, key: str, value: Tensor, index: Tensor) -> Tensor:
        """``value[index]`` along the node dimension; a sparse COO tensor by its row
        pointers (torch's sparse ``index_select`` is far slower)."""
        if value.layout != torch.sparse_coo:
            return torch.index_select(value, 0, index)
        if key not in self._coo:
            value = value.coalesce()  # rows sorted, so each row is one slice
            counts = torch.bincount(value.indices()[0], minlength=value.size(0))
            self._coo[key] = (value, torch.cat([counts.new_zeros(1), counts.cumsum(0)]))
        value, rowptr = self._coo[key]
        take = rowptr[index + 1] - rowptr[index]
        pos = _ranges(rowptr[index], take)
        rows = torch.repeat_interleave(torch.arange(index.numel(), device=index.device), take)
        indices = torch.cat([rows.unsqueeze(0), value.indices()[1:, pos]])
        return torch.sparse_coo_tensor(indices, value.values()[pos],
                                       (index.numel(), *value.shape[1:]), is_coalesced=True,
                                       check_invariants=False)

    def _sample_in_edges(self, nodes: Tensor, k: int, generator: torch.Generator
                         ) -> tuple[Tensor, Tensor]:
        """``(targets, positions)``: the sampled in-edges of ``nodes`` as positions in the
        CSC arrays, grouped by target in the order of ``nodes``."""
        start = self._colptr[nodes]
        deg = self._colptr[nodes + 1] - start
        if k < 0:
            return torch.repeat_interleave(nodes, deg), _ranges(start, deg)
        slots = torch.arange(k, device=self.device).expand(nodes.numel(), k).clone()
        over = (deg > k).nonzero().view(-1)
        if over.numel():
            slots[over] = self._floyd(deg[over], k, generator)
        keep = torch.arange(k, device=self.device) < deg.clamp(max=k).unsqueeze(1)
        targets = nodes.unsqueeze(1).expand(-1, k)[keep]
        return targets, (start.unsqueeze(1) + slots)[keep]

    def _floyd(self, deg: Tensor, k: int, generator: torch.Generator) -> Tensor:
        """``[len(deg), k]`` distinct uniform offsets in ``[0, deg)`` per row (Floyd's
        algorithm, one draw per row and slot: uniform k-subsets without replacement)."""
        chosen = torch.empty(deg.numel(), k, dtype=torch.long, device=self.device)
        for i in range(k):
            top = deg - k + i  # the i-th draw is uniform in [0, top]
            u = torch.rand(deg.numel(), generator=generator, device=self.device,
                           dtype=torch.float64)
            t = (u * (top + 1)).long().minimum(top)
            taken = (chosen[:, :i] == t.unsqueeze(1)).any(1)
            chosen[:, i] = torch.where(taken, top, t)
        return chosen

    def __getstate__(self) -> dict:
        # Workers started by spawn get a copy: the DataLoader stays, a memmap is reopened.
        state = dict(self.__dict__, _loader=None)
        state["features"] = portable(self.features)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, features=restored(state["features"]))

    def __repr__(self) -> str:
        seed = "generator=torch.Generator" if self.seed is None else f"seed={self.seed}"
        features = (None if self.features is None else
                    f"{type(self.features).__name__}{tuple(self.features.shape)}")
        return (f"NeighborSampler(num_nodes={self.num_nodes}, "
                f"num_neighbors={list(self.num_neighbors)}, "
                f"input_nodes={self.input_nodes.numel()}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {seed}, "
                f"rank={self.rank}, world_size={self.world_size}, epoch={self.epoch}, "
                f"num_workers={self.num_workers}, features={features}, batches={len(self)}, "
                f"device={self.device})")


class _Steps(Dataset):
    """The batches of a sampler by ``(epoch, step)``, built in a DataLoader worker."""

    def __init__(self, sampler: NeighborSampler) -> None:
        self.sampler, self.epoch, self.order = sampler, None, None

    def __getitem__(self, key: tuple[int, int]):
        epoch, step = key
        if epoch != self.epoch:  # one permutation per epoch and worker
            self.epoch, self.order = epoch, self.sampler._order(epoch)
        return self.sampler._step(self.order, epoch, step)


class _EpochSteps(Sampler):
    """The keys ``(epoch, step)`` of one epoch, in step order (read in this process, so
    persistent workers see the epoch set last)."""

    def __init__(self, steps: int) -> None:
        self.steps, self.epoch = steps, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, step) for step in range(self.steps))


def _identity(batch):
    """The DataLoader's collate: the batch is built whole by the dataset."""
    return batch


def _ranges(start: Tensor, length: Tensor) -> Tensor:
    """The concatenated ranges ``start[i] .. start[i] + length[i] - 1``."""
    offsets = torch.arange(int(length.sum()), device=start.device)
    return torch.repeat_interleave(start - (length.cumsum(0) - length), length) + offsets


__all__ = ["NeighborSampler"]
