"""Mini-batches of sampled neighbourhoods, in pure PyTorch (no compiled extensions)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from fgsam._random import make_generator


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
    copy of the graph, with the sampler's own ``torch.Generator`` on the graph's device.

    Each batch is a :class:`~torch_geometric.data.Data` with the ``batch_size`` seed nodes
    first and, as in NeighborLoader: ``n_id`` (the graph's node ids of the batch's nodes),
    ``e_id`` (edge ids of the sampled edges), ``input_id`` (positions of the seeds in
    ``input_nodes``), ``batch_size``, ``num_sampled_nodes`` and ``num_sampled_edges`` (per
    hop); every node-level attribute (``x`` dense or sparse COO, ``y``, masks) sliced by
    ``n_id`` and every edge-level one (``edge_attr``, ``edge_weight``) by ``e_id``.
    Sampling is over edges: a multigraph may give a neighbour twice.

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
        batch_size (int, optional): seed nodes per batch. (default: ``1``)
        shuffle (bool, optional): a fresh order of the seed nodes every epoch.
            (default: ``False``)
        drop_last (bool, optional): skip the last, smaller batch. (default: ``False``)
        generator (int or torch.Generator, optional): a seed, or a generator on the
            graph's device that the sampler uses (and advances) as is; ``None`` means
            seed ``0``. (default: ``None``)

    Example:
        >>> sampler = NeighborSampler(data, [10, 5], input_nodes=data.train_mask,
        ...                           batch_size=1024, shuffle=True, generator=0)
        >>> for batch in sampler:
        ...     out = model(batch.x, batch.edge_index)[: batch.batch_size]
        ...     loss = F.cross_entropy(out, batch.y[: batch.batch_size])
    """

    def __init__(self, data, num_neighbors: Sequence[int], input_nodes: Tensor | None = None,
                 batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: int | torch.Generator | None = None) -> None:
        self.data = data
        self.num_nodes = _num_nodes(data)
        self.num_neighbors = _fan_outs(num_neighbors)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, bool(shuffle), drop_last
        edge_index = data.edge_index
        self.device = edge_index.device
        self.input_nodes = _input_nodes(input_nodes, self.num_nodes, self.device)
        self.generator = _generator(generator, self.device)
        # CSC: the in-edges of node v are sources[colptr[v]:colptr[v + 1]].
        self._perm = torch.argsort(edge_index[1], stable=True)
        self._sources = edge_index[0, self._perm]
        counts = torch.bincount(edge_index[1], minlength=self.num_nodes)
        self._colptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self._local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
        self._coo: dict[str, tuple[Tensor, Tensor]] = {}  # sparse features and row pointers

    def __len__(self) -> int:
        n = self.input_nodes.numel()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator:
        n = self.input_nodes.numel()
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            input_id = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self._batch(self.input_nodes[input_id], input_id)

    def sample(self, seeds: Tensor) -> object:
        """One batch around the given distinct seed node ids (e.g. for inference)."""
        seeds = _input_nodes(seeds, self.num_nodes, self.device)
        return self._batch(seeds, torch.arange(seeds.numel(), device=self.device))

    def _batch(self, seeds: Tensor, input_id: Tensor):
        from torch_geometric.data import Data

        local = self._local
        n_id, rows, cols, e_ids = [seeds], [], [], []
        local[seeds] = torch.arange(seeds.numel(), device=self.device)
        count, frontier = seeds.numel(), seeds
        try:
            for k in self.num_neighbors:
                targets, pos = self._sample_in_edges(frontier, k)
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
        for key, value in self.data.items():
            if key in ("edge_index", "num_nodes"):
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

    def _sample_in_edges(self, nodes: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """``(targets, positions)``: the sampled in-edges of ``nodes`` as positions in the
        CSC arrays, grouped by target in the order of ``nodes``."""
        start = self._colptr[nodes]
        deg = self._colptr[nodes + 1] - start
        if k < 0:
            return torch.repeat_interleave(nodes, deg), _ranges(start, deg)
        slots = torch.arange(k, device=self.device).expand(nodes.numel(), k).clone()
        over = (deg > k).nonzero().view(-1)
        if over.numel():
            slots[over] = self._floyd(deg[over], k)
        keep = torch.arange(k, device=self.device) < deg.clamp(max=k).unsqueeze(1)
        targets = nodes.unsqueeze(1).expand(-1, k)[keep]
        return targets, (start.unsqueeze(1) + slots)[keep]

    def _floyd(self, deg: Tensor, k: int) -> Tensor:
        """``[len(deg), k]`` distinct uniform offsets in ``[0, deg)`` per row (Floyd's
        algorithm, one draw per row and slot: uniform k-subsets without replacement)."""
        chosen = torch.empty(deg.numel(), k, dtype=torch.long, device=self.device)
        for i in range(k):
            top = deg - k + i  # the i-th draw is uniform in [0, top]
            u = torch.rand(deg.numel(), generator=self.generator, device=self.device,
                           dtype=torch.float64)
            t = (u * (top + 1)).long().minimum(top)
            taken = (chosen[:, :i] == t.unsqueeze(1)).any(1)
            chosen[:, i] = torch.where(taken, top, t)
        return chosen

    def __repr__(self) -> str:
        return (f"NeighborSampler(num_nodes={self.num_nodes}, "
                f"num_neighbors={list(self.num_neighbors)}, "
                f"input_nodes={self.input_nodes.numel()}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, batches={len(self)}, device={self.device})")


def _ranges(start: Tensor, length: Tensor) -> Tensor:
    """The concatenated ranges ``start[i] .. start[i] + length[i] - 1``."""
    offsets = torch.arange(int(length.sum()), device=start.device)
    return torch.repeat_interleave(start - (length.cumsum(0) - length), length) + offsets


def _num_nodes(data) -> int:
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


def _fan_outs(num_neighbors: Sequence[int]) -> tuple[int, ...]:
    values = tuple(num_neighbors) if isinstance(num_neighbors, (list, tuple)) else None
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or k < -1 or k == 0
                         for k in values):
        raise ValueError(f"num_neighbors must be a non-empty list of positive ints (or -1 for "
                         f"all in-neighbours), one per hop, got {num_neighbors!r}")
    return values


def _input_nodes(nodes: Tensor | None, n: int, device: torch.device) -> Tensor:
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


def _generator(generator: int | torch.Generator | None, device: torch.device
               ) -> torch.Generator:
    """:func:`fgsam._random.make_generator` on the graph's device, except that ``None``
    means seed ``0`` (this sampler's documented default)."""
    try:
        return make_generator(0 if generator is None else generator, device)
    except ValueError:
        if isinstance(generator, torch.Generator):
            raise  # one on another device than the graph's
        raise ValueError(f"generator must be an int seed or a torch.Generator, got "
                         f"{generator!r}") from None


__all__ = ["NeighborSampler"]
