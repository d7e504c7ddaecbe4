"""The graph's adjacency as a CSR sparse matrix, and when a model may take it.

PyG convolutions accept, in place of ``edge_index``, the transposed adjacency ``adj_t``
as a sparse tensor (row :math:`i` holds the sources of the edges into :math:`i`); a
layer whose message is its input times an edge weight then propagates by one fused
sparse-matrix product instead of gathering a message per edge and scattering it back,
which is several times faster on graphs with many edges. The result is the same sum in
another order: equal within float rounding, not bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import GCNConv, GINConv, GraphConv, MessagePassing, SAGEConv
from torch_geometric.utils import is_torch_sparse_tensor, to_torch_csr_tensor

from fgsam.nn.linear_first_sage import LinearFirstSAGEConv
from fgsam.nn.sparse_linear import quiet_csr

#: The values of ``--adjacency``: choose, a CSR matrix, or PyG's edge list.
ADJACENCIES = ("auto", "csr", "edge-index")
#: Layers whose propagation is exactly one sparse product (weighted sum or mean).
SPARSE_LAYERS: tuple[type[MessagePassing], ...] = (GCNConv, SAGEConv, LinearFirstSAGEConv, GINConv,
                                                   GraphConv)
_SPARSE_AGGREGATIONS = ("add", "sum", "mean")
#: ``"auto"`` takes CSR from this many edges on: below it the edge list was as fast or faster
#: (Adam steps, one thread: a pre-normalised GCN on Cora's 10.6k edges 0.84x the CSR time,
#: GPN on Wiki's 23k equal; GPN on BlogCatalog's 343k edges 1.6x, a GCN on the arxiv shape's
#: 2.3M 2.5x; benchmarks/RESULTS.md).
AUTO_MIN_EDGES = 100_000
#: ... or, for a layer that aggregates its input before any transform (SAGEConv, GINConv,
#: GraphConv), from this many message entries (edges x input width) on: the edge list then
#: gathers one input-wide message per edge (Wiki's 34k edges x 4,973 features: 0.7 GB per
#: forward) where the sparse product writes none.
AUTO_MIN_MESSAGES = 20_000_000
#: The layers that propagate their raw input (their transform comes after the aggregation;
#: a :class:`LinearFirstSAGEConv` that transforms first does not).
RAW_AGGREGATING: tuple[type[MessagePassing], ...] = (SAGEConv, GINConv, GraphConv)


def csr_adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None
                  ) -> Tensor:
    """``adj_t`` of the graph as a ``torch.sparse_csr_tensor`` (``[num_nodes, num_nodes]``,
    entry :math:`(i, j)` the weight of the edge :math:`j \\to i`, 1 without ``edge_weight``),
    what PyG's ``ToSparseTensor(layout=torch.sparse_csr)`` builds.

    Example:
        >>> adj_t = csr_adjacency(data.edge_index, data.num_nodes)
        >>> out = GCN(data.num_features, 16, 2, 7)(data.x, adj_t)
    """
    with quiet_csr():
        return to_torch_csr_tensor(edge_index.flip(0), edge_weight, size=(num_nodes, num_nodes))


def unsupported_layers(model: torch.nn.Module) -> list[str]:
    """The message-passing layers of ``model`` that do not propagate by one sparse product
    (class names; empty when the whole model can take a CSR adjacency)."""
    out = []
    for m in model.modules():
        if not isinstance(m, MessagePassing):
            continue
        aggr = getattr(m, "aggr", None)
        if type(m) not in SPARSE_LAYERS or not isinstance(aggr, str) or \
                aggr not in _SPARSE_AGGREGATIONS:
            out.append(type(m).__name__)
    return out


def resolve_adjacency(adjacency: str, model: torch.nn.Module, num_edges: int | None = None,
                      num_features: int | None = None) -> str:
    """``"csr"`` or ``"edge-index"`` for ``model`` on a graph of ``num_edges`` edges.

    ``"auto"`` is ``"csr"`` when every message-passing layer propagates by a sparse product
    (:data:`SPARSE_LAYERS` with a sum or mean), no GCNConv would normalise the sparse matrix
    again on every call (``normalize=True`` without ``cached=True``: slower than the edge
    list) and the graph has at least :data:`AUTO_MIN_EDGES` edges (``num_edges=None``: no
    size rule), or a first layer of :data:`RAW_AGGREGATING` would gather at least
    :data:`AUTO_MIN_MESSAGES` message entries (``num_edges * num_features``, when
    ``num_features`` is given); else ``"edge-index"``. The rule depends on the model and
    the graph only, so a run chooses the same way every time. ``"csr"`` for a model with
    other layers is refused."""
    if adjacency not in ADJACENCIES:
        raise ValueError(f"adjacency must be one of {', '.join(ADJACENCIES)}, got {adjacency!r}")
    if adjacency == "edge-index":
        return adjacency
    others = unsupported_layers(model)
    if adjacency == "csr" and others:
        raise ValueError(f"adjacency='csr' needs layers that propagate by a sparse product "
                         f"({', '.join(c.__name__ for c in SPARSE_LAYERS)} with a sum or mean); "
                         f"the model has {', '.join(sorted(set(others)))}: use 'edge-index'")
    if adjacency == "csr":
        return adjacency
    renormalising = any(isinstance(m, GCNConv) and m.normalize and not m.cached
                        for m in model.modules())
    small = num_edges is not None and num_edges < AUTO_MIN_EDGES
    if small and num_features is not None and num_edges * num_features >= AUTO_MIN_MESSAGES:
        first = next((m for m in model.modules() if isinstance(m, MessagePassing)), None)
        small = not isinstance(first, RAW_AGGREGATING) or (
            isinstance(first, LinearFirstSAGEConv) and first.linear_first)
    return "edge-index" if others or renormalising or small else "csr"


__all__ = [
    "ADJACENCIES",
    "AUTO_MIN_EDGES",
    "AUTO_MIN_MESSAGES",
    "RAW_AGGREGATING",
    "SPARSE_LAYERS",
    "csr_adjacency",
    "is_torch_sparse_tensor",
    "resolve_adjacency",
    "unsupported_layers",
]
