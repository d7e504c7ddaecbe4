"""The PeerMLP view of any message-passing model."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch_geometric.utils import add_self_loops

from fgsam.nn.peer_edges import (
    EdgeAttrRule,
    edge_attr_required,
    model_takes_edge_attr,
    require_edge_attr,
    self_loop_edge_attr,
)
from fgsam.nn.peer_layers import has_self_loop_form, self_loop_forms

#: The one-line refusal of heterogeneous input without a ``forward_peer``.
HETERO_UNSUPPORTED = (
    "peer_forward takes a homogeneous model (x a tensor): a heterogeneous model's node has "
    "no self-loop relation to run its layers along, so define forward_peer(x_dict, **kwargs) "
    "on the model (peer_forward then calls it with each type's rows)"
)


def self_loop_edge_index(n: int, device: torch.device | str | None = None) -> Tensor:
    """``edge_index`` of ``n`` nodes with one self-loop each and no other edge: ``[2, n]``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    no_edges = torch.empty((2, 0), dtype=torch.long, device=device)
    return add_self_loops(no_edges, num_nodes=n)[0]


def peer_forward(
    model: torch.nn.Module,
    x: Tensor | dict[str, Tensor],
    index: Tensor | dict[str, Tensor] | None = None,
    *,
    edge_attr: EdgeAttrRule | None = None,
    **kwargs: Any,
) -> Tensor | Any:
    r"""Run ``model`` as its PeerMLP, from `"Fast Graph Sharpness-Aware Minimization for
    Enhancing and Accelerating Few-Shot Node Classification"
    <https://arxiv.org/abs/2410.16845>`_ (Luo et al., NeurIPS 2024).

    The PeerMLP shares every weight with the GNN but each node's neighbourhood is the
    node itself, so message passing becomes the identity and a node depends on its own
    features only:

    .. math::
        \mathrm{PeerMLP}(X)_{i} = f_{\mathrm{gnn}}\big(X_{\{i\}}, \{(i, i)\}\big),

    e.g. GCNConv and GATConv become :math:`xW + b`, SAGEConv
    :math:`\mathrm{lin}_l(x) + \mathrm{lin}_r(x)`, GINConv :math:`h((1 + \epsilon) x_i +
    \sum_j x_j) = h((2 + \epsilon) x)`, which is :math:`h(2x)` for the default :math:`\epsilon = 0`.
    ``model`` is called on ``x[index]`` with a self-loop-only ``edge_index`` over those
    rows, so the cost is :math:`O(|\mathrm{index}|)`, independent of the graph. A model
    that defines ``forward_peer(x, **kwargs)`` (edge attributes, custom layers) is
    called through it instead. Convolutions with ``cached=True`` have their cache set
    aside for the call. GCNConv, SAGEConv, GINConv, GraphConv and GINEConv take their
    exact self-loop form (:mod:`fgsam.nn.peer_layers`): the same result without the
    normalisation and the scatter over the self-loop graph.

    **Edge features.** Each self-loop carries the attribute :math:`e_i` the user's
    ``edge_attr`` rule gives (:func:`~fgsam.nn.peer_edges.self_loop_edge_attr`): a ``[F_e]``
    fill, an ``[n, F_e]`` tensor, a constant, or a callable ``(n) -> Tensor``; it is passed
    to the model's forward (or ``forward_peer``) as ``edge_attr=``. Then GINEConv becomes
    :math:`h((1 + \epsilon) x + \mathrm{ReLU}(x + \mathrm{lin}(e)))`, GATConv
    :math:`\mathrm{lin}(x) + b` and GATv2Conv :math:`\mathrm{lin}_l(x) + b` for any
    :math:`e` (one edge per node: attention 1), TransformerConv
    :math:`\mathrm{lin}_{value}(x) + \mathrm{lin}_{edge}(e) + \mathrm{lin}_{skip}(x)`
    (:mod:`fgsam.nn.peer_edges`; in training mode attention dropout multiplies each head's
    message term, not the bias or skip, by 0 or :math:`1/(1-p)`, as on the real graph).
    PyG's aggregating fills (``"mean"``, ...) need the real edges and are refused. A layer
    that needs :math:`e` and gets none raises a one-line error that names it.

    **Heterogeneous models** (``to_hetero``, ``HeteroConv``; ``x`` a dict of node types) have
    no PeerMLP of their own: a node's neighbourhood reduced to itself is a relation
    :math:`(t, t)` the model has no weights for. They must define ``forward_peer(x_dict,
    **kwargs)``, which is called with each type's rows (``index`` a dict of rows per type;
    types it leaves out keep all rows; ``edge_attr`` passed unchanged); otherwise a one-line
    :class:`TypeError` says so.

    Args:
        model (torch.nn.Module): a model whose forward takes ``(x, edge_index, ...)``.
        x (torch.Tensor or dict): node features of the whole graph, ``[N, F]`` (dense or
            sparse COO); a dict of node types only for a model with ``forward_peer``.
        index (torch.Tensor or dict, optional): the rows to compute (e.g. support and
            query nodes), as ids or a boolean mask (a dict of them per node type for dict
            ``x``); all rows if ``None``. (default: ``None``)
        edge_attr (torch.Tensor, float or callable, optional): the self-loops' edge
            attributes, by the rule above; none if ``None``. (default: ``None``)
        **kwargs: further keyword arguments of the model's forward.

    Example:
        >>> from torch_geometric.nn import GCN
        >>> model = GCN(1433, 16, 2, 7)
        >>> out = peer_forward(model, data.x, episode_nodes)  # [len(episode_nodes), 7]
        >>> gine = GINEConv(torch.nn.Linear(1433, 7), edge_dim=4)
        >>> out = peer_forward(gine, data.x, episode_nodes, edge_attr=torch.zeros(4))
    """
    peer = getattr(model, "forward_peer", None)
    if peer is None and hasattr(model, "module"):  # DistributedDataParallel and friends
        peer = getattr(model.module, "forward_peer", None)
    if isinstance(x, dict):
        if not callable(peer):
            raise TypeError(HETERO_UNSUPPORTED)
        if index is not None:
            if not isinstance(index, dict):
                raise TypeError("with x a dict of node types, index must be a dict of rows "
                                "per node type")
            x = {t: _rows(v, index[t]) if t in index else v for t, v in x.items()}
        return peer(x, **kwargs) if edge_attr is None else peer(x, edge_attr=edge_attr, **kwargs)
    if index is not None:
        x = _rows(x, index)
    if edge_attr is not None:
        edge_attr = self_loop_edge_attr(edge_attr, x.size(0), model, x)
        if not callable(peer) and not model_takes_edge_attr(model)[0]:
            raise TypeError(f"{type(model).__name__}.forward takes no edge_attr: define "
                            f"forward_peer(x, edge_attr, ...) on the model, or drop edge_attr=")
        kwargs["edge_attr"] = edge_attr
    if callable(peer):
        return peer(x, **kwargs)
    named = list(model.named_modules())  # walked once: a PeerMLP step is mostly fixed cost
    if edge_attr is None:
        require_edge_attr(model, named)
    modules = [m for _, m in named]
    forms = [m for m in modules if has_self_loop_form(m)]
    with _caches_set_aside(modules), self_loop_forms(forms), edge_attr_required(model, named):
        return model(x, _self_loops(x.size(0), x.device, torch.is_inference_mode_enabled()),
                     **kwargs)


def _rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for dense and sparse COO features, ``index`` ids or a boolean mask."""
    if not x.is_sparse:
        # index_select gathers wide rows several times faster than x[index] on the CPU; it
        # takes no negative ids (checked here: on the CPU that costs no synchronisation).
        if (x.device.type == "cpu" and index.dim() == 1 and index.dtype in (torch.long, torch.int)
                and index.device.type == "cpu" and (index.numel() == 0 or int(index.min()) >= 0)):
            return x.index_select(0, index)
        return x[index]
    if index.dtype == torch.bool:
        index = index.nonzero().view(-1)
    if x.sparse_dim() != 2 or not x.is_coalesced() or x.requires_grad:
        return x.index_select(0, index)
    # Coalesced COO is sorted by row: binary search finds each row's entries, so the cost
    # is O(|index| log nnz + selected nnz) instead of index_select's scan of all entries.
    indices, values = x.indices(), x.values()
    index = index.to(indices.device)
    start = torch.searchsorted(indices[0], index)
    counts = torch.searchsorted(indices[0], index, right=True) - start
    total = int(counts.sum())
    first = torch.cumsum(counts, 0) - counts  # where each selected row begins in the output
    take = torch.repeat_interleave(start - first, counts, output_size=total)
    take += torch.arange(total, device=take.device)
    rows = torch.repeat_interleave(torch.arange(index.numel(), device=take.device), counts,
                                   output_size=total)
    return torch.sparse_coo_tensor(
        torch.stack([rows, indices[1][take]]), values[take], (index.numel(), x.size(1)),
        is_coalesced=bool((index[1:] > index[:-1]).all()), check_invariants=False,
    )


@functools.lru_cache(maxsize=64)
def _self_loops(n: int, device: torch.device, inference: bool) -> Tensor:
    """:func:`self_loop_edge_index`, built once per size and device (and inference mode,
    whose tensors autograd may not save) and shared: the models only read it."""
    return self_loop_edge_index(n, device)


def _is_cached(m: torch.nn.Module) -> bool:
    # vars() first: Module.__getattr__ on a missing name costs an exception per module.
    d = vars(m)
    if "cached" in d:
        return d["cached"] is True
    return hasattr(type(m), "cached") and getattr(m, "cached", False) is True


@contextlib.contextmanager
def _caches_set_aside(modules: list[torch.nn.Module]) -> Iterator[None]:
    """Disable ``cached=True`` convolutions (their cache holds the full graph) for a call."""
    saved = [(m, [k for k in vars(m) if k.startswith("_cached_")])
             for m in modules if _is_cached(m)]
    saved = [(m, {k: vars(m)[k] for k in keys}) for m, keys in saved]
    for m, attrs in saved:
        m.cached = False
        vars(m).update(dict.fromkeys(attrs))  # plain attributes: no Module.__setattr__ needed
    try:
        yield
    finally:
        for m, attrs in saved:
            m.cached = True
            vars(m).update(attrs)


__all__ = ["HETERO_UNSUPPORTED", "peer_forward", "self_loop_edge_index"]
