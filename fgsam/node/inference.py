"""Exact full-graph inference of a PyG GNN, one layer at a time over chunks of nodes."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.nn import GCNConv
from torch_geometric.nn.models.basic_gnn import BasicGNN
from torch_geometric.nn.norm import GraphNorm, InstanceNorm, LayerNorm, PairNorm

from fgsam._validate import check_edge_index, check_positive_int
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency

if TYPE_CHECKING:
    from fgsam._distributed import DistributedContext


def layerwise_inference(model: torch.nn.Module, x: Any, edge_index: Tensor,
                        edge_weight: Tensor | None = None, *, batch_size: int = 4096,
                        ctx: DistributedContext | None = None,
                        device: str | torch.device | None = None,
                        adjacency: str = "edge-index") -> Tensor:
    r"""The output of a PyG :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` for every
    node of a graph, computed layer by layer as in `"Inductive Representation Learning on
    Large Graphs" <https://arxiv.org/abs/1706.02216>`_ (Hamilton et al., NeurIPS 2017) and
    PyG's ``BasicGNN.inference``: exact, with the memory of one layer's activations
    instead of an :math:`L`-hop neighbourhood.

    Layer :math:`l` is computed for all nodes before layer :math:`l + 1`,

    .. math::
        H^{(l)}_{C} = \sigma\big(\mathrm{norm}\big(\mathrm{conv}_l(H^{(l-1)}_{C \cup
        \mathcal{N}^-(C)}, \{(u, v) \in E : v \in C\})\big)\big),

    over chunks :math:`C` of ``batch_size`` consecutive node ids with every in-edge of the
    chunk (no sampling), activation and norm as in the model's forward (none after the
    last layer). The result equals ``model(x, edge_index, edge_weight)`` in eval mode up
    to float rounding. The model is run in eval mode (dropout off, BatchNorm on its
    running statistics): it is switched to eval for the call and every submodule's
    ``training`` flag is restored afterwards. Under ``torch.no_grad()``.

    With ``ctx.enabled`` (several processes), each rank computes a contiguous, near-equal
    range of the nodes at every layer and the ranks all-gather the layer before the next,
    so every rank returns the same full output.

    Supported: BasicGNNs with ``jk=None`` whose norms act on each node on its own (not
    PyG's LayerNorm with ``mode="graph"``, GraphNorm, InstanceNorm, PairNorm) and GCN with
    ``normalize=False`` (normalised weights of the full graph, e.g. from
    :func:`fgsam.node.models.prepare_graph`): a chunk does not hold its neighbours'
    degrees. A ``DistributedDataParallel`` wrapper is looked through.

    Args:
        model (torch_geometric.nn.models.basic_gnn.BasicGNN): the model, on ``device``.
        x (torch.Tensor or array-like): node features ``[N, F]``: a tensor (dense or sparse
            COO) or any object with ``.shape`` whose rows can be read with a sorted NumPy
            array of ids (e.g. a ``numpy.memmap``); only each chunk's rows are read at the
            first layer.
        edge_index (torch.Tensor): ``[2, E]`` node ids, ``source -> target``.
        edge_weight (torch.Tensor, optional): ``[E]`` edge weights, for models that take
            them (GCN). (default: ``None``)
        batch_size (int, optional): target nodes per chunk. (default: ``4096``)
        ctx (fgsam._distributed.DistributedContext, optional): the processes to share
            the work between; one process if ``None``. (default: ``None``)
        device (torch.device, optional): where chunks and activations live; the device
            of the model's parameters if ``None``. (default: ``None``)
        adjacency (str, optional): how each chunk propagates: ``"edge-index"`` (PyG's
            gather and scatter per edge), ``"csr"`` (one sparse product per layer and
            chunk, :func:`fgsam.nn.adjacency.csr_adjacency`: much less memory where the
            features are wide) or ``"auto"`` (:func:`fgsam.nn.adjacency.resolve_adjacency`
            on the whole graph). (default: ``"edge-index"``)

    Returns:
        torch.Tensor: ``[N, out_channels]`` on ``device``.

    Example:
        >>> model = build_node_model("gcn", 1433, 7, hidden=64, layers=2)
        >>> edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
        >>> out = layerwise_inference(model, data.x, edge_index, edge_weight,
        ...                           batch_size=1024)  # [N, 7]
    """
    gnn = _check_model(model)
    check_positive_int("batch_size", batch_size)
    num_nodes = _check_graph(gnn, x, edge_index, edge_weight)
    device, dtype = _device(gnn, device)
    csr = resolve_adjacency(adjacency, gnn, int(edge_index.size(1)), int(x.shape[1])) == "csr"
    graph = _InEdges(edge_index, edge_weight, num_nodes)
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None and ctx.enabled else (0, 1)
    bounds = [num_nodes * r // world for r in range(world + 1)]  # near-equal ranges
    lo, hi = bounds[rank], bounds[rank + 1]
    flags = {m: m.training for m in gnn.modules()}
    gnn.eval()
    try:
        with torch.no_grad():
            h: Any = x
            for layer in range(gnn.num_layers):
                rows = [_layer(gnn, layer, h, graph, a, min(a + batch_size, hi), device, dtype,
                               csr) for a in range(lo, hi, batch_size)]
                h = _gather(ctx, rows, bounds, gnn, layer, device, dtype) if world > 1 \
                    else torch.cat(rows)
    finally:
        for m, flag in flags.items():
            m.training = flag
    return h


def _check_model(model: Any) -> BasicGNN:
    gnn = getattr(model, "module", model)  # DistributedDataParallel and friends
    if not isinstance(gnn, BasicGNN):
        raise ValueError("layerwise_inference supports PyG BasicGNN models (GCN, GraphSAGE, "
                         f"GAT, GIN, ...) with jk=None, got {type(gnn).__name__}")
    if gnn.jk_mode is not None:
        raise ValueError(f"layerwise_inference supports BasicGNN models with jk=None, got "
                         f"jk={gnn.jk_mode!r}")
    for m in gnn.modules():
        if isinstance(m, GCNConv) and m.normalize:
            raise ValueError("layerwise_inference supports GCNConv with normalize=False only "
                             "(a chunk lacks its neighbours' degrees): feed the full graph's "
                             "normalised weights (prepare_graph) instead")
        if isinstance(m, (GraphNorm, InstanceNorm, PairNorm)) or (
                isinstance(m, LayerNorm) and m.mode != "node"):
            raise ValueError(f"layerwise_inference supports norms that act on each node "
                             f"alone, got {m} (statistics over the whole graph)")
    return gnn


def _device(gnn: BasicGNN, device: Any) -> tuple[torch.device, torch.dtype]:
    """The device and float type to compute in: the parameters' unless ``device`` says."""
    params = next(gnn.parameters(), None)
    if params is None:
        return torch.device(device if device is not None else "cpu"), torch.float32
    dtype = params.dtype if params.is_floating_point() else torch.float32
    if device is None:
        return params.device, dtype
    device = torch.device(device)
    # "cuda" names the current GPU, so it matches parameters on "cuda:0" there
    if device.type != params.device.type or device.index not in (None, params.device.index):
        raise ValueError(f"the model's parameters are on {params.device}, not on device={device}")
    return params.device, dtype


def _check_graph(gnn: BasicGNN, x: Any, edge_index: Any, edge_weight: Any) -> int:
    """The number of nodes (rows of ``x``), after checking the graph against it."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"x must have a shape [N, F], got "
                         f"{tuple(shape) if shape is not None else type(x).__name__}")
    num_nodes = int(shape[0])
    check_edge_index(edge_index, num_nodes, f"x has {num_nodes} rows")
    if edge_weight is not None:
        if not gnn.supports_edge_weight:
            raise ValueError(f"edge_weight was given but {type(gnn).__name__} takes no edge "
                             f"weights (its forward would ignore them)")
        if not isinstance(edge_weight, Tensor) or tuple(edge_weight.shape) != (
                edge_index.size(1),):
            got = tuple(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(
                edge_weight).__name__
            raise ValueError(f"edge_weight must be a tensor of shape [{edge_index.size(1)}] "
                             f"(one per edge), got {got}")
    return num_nodes


class _InEdges:
    """The graph by target (CSC): the in-edges of the nodes ``[a, b)`` are one slice."""

    def __init__(self, edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int) -> None:
        perm = torch.argsort(edge_index[1], stable=True)
        self.sources, self.targets = edge_index[0, perm], edge_index[1, perm]
        self.weights = None if edge_weight is None else edge_weight.to(perm.device)[perm]
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.colptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def chunk(self, a: int, b: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(n_id, edge_index, edge_weight)`` of the chunk's 1-hop in-neighbourhood: the
        targets ``a, ..., b - 1`` first, then the other sources in sorted order."""
        lo, hi = int(self.colptr[a]), int(self.colptr[b])
        sources, targets = self.sources[lo:hi], self.targets[lo:hi]
        inside = (sources >= a) & (sources < b)
        others = torch.unique(sources[~inside])  # sorted: reads in order
        local = torch.where(inside, sources - a,
                            (b - a) + torch.searchsorted(others, sources))
        n_id = torch.cat([torch.arange(a, b, device=sources.device), others])
        weights = None if self.weights is None else self.weights[lo:hi]
        return n_id, torch.stack([local, targets - a]), weights


def _rows(x: Any, n_id: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``x[n_id]`` as a dense float tensor on ``device``, read in sorted order."""
    order = torch.argsort(n_id)
    ids = n_id[order]
    if isinstance(x, Tensor):
        ids = ids.to(x.device)
        rows = x.index_select(0, ids)
        rows = rows.to_dense() if rows.is_sparse else rows
    else:
        rows = torch.as_tensor(np.asarray(x[ids.cpu().numpy()]))
    rows = rows.to(device=device, dtype=dtype)
    out = torch.empty_like(rows)
    out[order.to(device)] = rows
    return out


def _layer(gnn: BasicGNN, layer: int, h: Any, graph: _InEdges, a: int, b: int,
           device: torch.device, dtype: torch.dtype, csr: bool = False) -> Tensor:
    """Layer ``layer`` of ``gnn`` for the nodes ``[a, b)``; ``h`` is the previous layer's
    output for all nodes (the features at layer 0)."""
    n_id, edge_index, edge_weight = graph.chunk(a, b)
    if layer == 0:
        x = _rows(h, n_id, device, dtype)
    else:
        x = h.index_select(0, n_id.to(h.device))
    edge_index = edge_index.to(device)
    edge_weight = None if edge_weight is None else edge_weight.to(device)
    # PyG's inference_per_layer takes no edge weights and its inference needs a PyG
    # NeighborLoader (pyg-lib or torch-sparse): this follows BasicGNN.forward instead.
    conv = gnn.convs[layer]
    if csr:  # the chunk's targets are its first rows: a square [n, n] adj_t serves
        out = conv(x, csr_adjacency(edge_index, x.size(0), edge_weight))
    elif gnn.supports_edge_weight:
        out = conv(x, edge_index, edge_weight=edge_weight)
    else:
        out = conv(x, edge_index)
    out = out[: b - a]
    if layer == gnn.num_layers - 1:
        return out
    if gnn.act is not None and gnn.act_first:
        out = gnn.act(out)
    out = gnn.norms[layer](out)
    if gnn.act is not None and not gnn.act_first:
        out = gnn.act(out)
    return out


def _gather(ctx: DistributedContext, rows: list[Tensor], bounds: list[int], gnn: BasicGNN,
            layer: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Every rank's range of the layer, in node order, on every rank (ranges differ by at
    most one node: padded to the longest for the all-gather, then trimmed)."""
    sizes = [hi - lo for lo, hi in pairwise(bounds)]
    width = gnn.out_channels if layer == gnn.num_layers - 1 else gnn.hidden_channels
    mine = torch.cat(rows) if rows else torch.empty(0, width, device=device, dtype=dtype)
    padded = mine.new_zeros(max(sizes), mine.size(1))
    padded[: mine.size(0)] = mine
    parts = ctx.gather(padded).split(max(sizes))
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])


__all__ = ["layerwise_inference"]
