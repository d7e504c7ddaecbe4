"""Exact closed forms of PyG convolutions on a graph whose only edges are self-loops.

On that graph every node aggregates exactly one message, its own, so ``sum``, ``mean``,
``max`` and ``min`` aggregation return the node's own (transformed) features and the GCN
normalisation :math:`\\hat D^{-1/2} \\hat A \\hat D^{-1/2}` is the identity. The forms
below compute the same expression as the layer's ``forward`` in the same order, without
the normalisation, the edge gather and the scatter, which dominate the cost of a
PeerMLP pass on a few rows: GCNConv :math:`xW + b`, SAGEConv
:math:`\\mathrm{lin}_l(x) + \\mathrm{lin}_r(x)`, GINConv :math:`h(x + (1 + \\epsilon) x)`,
GraphConv :math:`\\mathrm{lin}_{rel}(x) + \\mathrm{lin}_{root}(x)`, and GINEConv, given
one edge attribute :math:`e` per self-loop,
:math:`h(\\mathrm{ReLU}(x + \\mathrm{lin}(e)) + (1 + \\epsilon) x)`. A layer is taken
this way only where that holds exactly (plain tensor features, no edge weights, a
single standard aggregation, no propagate hooks); any other layer runs its own forward
over the self-loop graph.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GCNConv, GINConv, GINEConv, GraphConv, MessagePassing, SAGEConv

from fgsam.nn.linear_first_sage import LinearFirstSAGEConv
from fgsam.nn.propagate_hooks import propagation_observed

#: Aggregations that return the one message of a node unchanged.
IDENTITY_AGGREGATIONS = ("add", "sum", "mean", "max", "min")


def _gcn(conv: GCNConv, x: Tensor) -> Tensor:
    out = conv.lin(x)
    return out if conv.bias is None else out + conv.bias


def _sage(conv: SAGEConv, x: Tensor) -> Tensor:
    h = conv.lin(x).relu() if conv.project and hasattr(conv, "lin") else x
    out = conv.lin_l(h)
    if conv.root_weight:
        out = out + conv.lin_r(x)
    return F.normalize(out, p=2.0, dim=-1) if conv.normalize else out


def _gin(conv: GINConv, x: Tensor) -> Tensor:
    return conv.nn(x + (1 + conv.eps) * x)


def _graph(conv: GraphConv, x: Tensor) -> Tensor:
    return conv.lin_rel(x) + conv.lin_root(x)


def _gine(conv: GINEConv, x: Tensor, edge_attr: Tensor) -> Tensor:
    if conv.lin is None and x.size(-1) != edge_attr.size(-1):
        raise ValueError("Node and edge feature dimensionalities do not match. Consider "
                         "setting the 'edge_dim' attribute of 'GINEConv'")
    message = (x + (edge_attr if conv.lin is None else conv.lin(edge_attr))).relu()
    return conv.nn(message + (1 + conv.eps) * x)


#: The layers with an exact self-loop form, and that form.
SELF_LOOP_FORMS: dict[type[MessagePassing], Callable[[Any, Tensor], Tensor]] = {
    GCNConv: _gcn,
    SAGEConv: _sage,
    LinearFirstSAGEConv: _sage,
    GINConv: _gin,
    GraphConv: _graph,
}


def self_loop_output(module: MessagePassing, x: Tensor) -> Tensor:
    """``module``'s output for features ``x`` on the self-loop graph, by its exact form
    (a layer of :data:`SELF_LOOP_FORMS` for which :func:`has_self_loop_form` holds)."""
    return SELF_LOOP_FORMS[type(module)](module, x)


def has_self_loop_form(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a layer of :data:`SELF_LOOP_FORMS` or
    :data:`EDGE_SELF_LOOP_FORMS` (its exact class) in a configuration where the form is
    exact."""
    if type(module) not in SELF_LOOP_FORMS and type(module) not in EDGE_SELF_LOOP_FORMS:
        return False
    if propagation_observed(module):
        return False
    return isinstance(module.aggr, str) and module.aggr in IDENTITY_AGGREGATIONS


def _self_loop_forward(form: Callable[[Any, Tensor], Tensor]) -> Callable[..., Tensor]:
    def forward(conv: Any, x: Any, edge_index: Any, *args: Any, **kwargs: Any) -> Tensor:
        # Extra inputs (edge weights, a size) would have to be about the self-loop graph.
        if isinstance(x, Tensor) and not args and not any(v is not None for v in kwargs.values()):
            return form(conv, x)
        return type(conv).forward(conv, x, edge_index, *args, **kwargs)

    return forward


def _gine_forward(conv: GINEConv, x: Any, edge_index: Any, edge_attr: Any = None,
                  size: Any = None) -> Tensor:
    # The form needs one edge attribute per self-loop: anything else is PyG's to handle.
    if (isinstance(x, Tensor) and isinstance(edge_attr, Tensor) and size is None
            and edge_attr.dim() == 2 and edge_attr.size(0) == x.size(0)):
        return _gine(conv, x, edge_attr)
    return GINEConv.forward(conv, x, edge_index, edge_attr, size)


#: Layers whose self-loop form also takes the self-loops' edge attributes, and that form.
EDGE_SELF_LOOP_FORMS: dict[type[MessagePassing], Callable[..., Tensor]] = {GINEConv: _gine}

_FORWARDS = {cls: _self_loop_forward(form) for cls, form in SELF_LOOP_FORMS.items()}
_FORWARDS[GINEConv] = _gine_forward


@contextlib.contextmanager
def self_loop_forms(modules: list[torch.nn.Module]) -> Iterator[None]:
    """Run each of ``modules`` (layers with :func:`has_self_loop_form`) through its
    self-loop form for the duration of the block."""
    # A plain instance attribute (no Module.__setattr__), and a forward the instance already
    # had is put back afterwards.
    saved = [(m, vars(m).get("forward")) for m in modules]
    for m in modules:
        vars(m)["forward"] = types.MethodType(_FORWARDS[type(m)], m)
    try:
        yield
    finally:
        for m, forward in saved:
            if forward is None:
                del vars(m)["forward"]
            else:
                vars(m)["forward"] = forward


__all__ = [
    "EDGE_SELF_LOOP_FORMS",
    "IDENTITY_AGGREGATIONS",
    "SELF_LOOP_FORMS",
    "has_self_loop_form",
    "self_loop_forms",
    "self_loop_output",
]
