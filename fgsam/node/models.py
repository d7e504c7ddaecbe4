"""PyG's node-classification GNNs by name, and the graph each one is fed.

GCN is built with ``normalize=False`` and takes the symmetric normalisation of the *full*
graph as edge weights (:func:`prepare_graph`), so a sampled neighbourhood or one chunk of
layer-wise inference sees the same coefficients as the whole graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import GAT, GCN, GIN
from torch_geometric.nn.models.basic_gnn import BasicGNN

from fgsam._validate import check_edge_index, check_positive_int, check_range
from fgsam.nn.linear_first_sage import LinearFirstGraphSAGE


class NodeModel(NamedTuple):
    """One entry of :data:`NODE_MODELS`: a PyG :class:`BasicGNN` class and the keyword
    arguments :func:`build_node_model` always passes to it."""

    cls: type[BasicGNN]
    fixed: Mapping[str, Any]


#: The models by name: PyG's own classes and their fixed keyword arguments. GraphSAGE is
#: PyG's, with each layer that narrows its input transformed before it aggregates (exact
#: for the mean: fgsam.nn.LinearFirstGraphSAGE), as PyG's GCNConv already does.
NODE_MODELS: dict[str, NodeModel] = {
    "gcn": NodeModel(GCN, MappingProxyType({"normalize": False})),
    "sage": NodeModel(LinearFirstGraphSAGE, MappingProxyType({})),
    "gat": NodeModel(GAT, MappingProxyType({})),
    "gin": NodeModel(GIN, MappingProxyType({})),
}

#: ``norm`` of :func:`build_node_model` -> PyG's ``norm`` and ``norm_kwargs``.
NORMS: dict[str | None, tuple[str | None, Mapping[str, Any] | None]] = {
    None: (None, None),
    "batch": ("batch_norm", None),
    # PyG's LayerNorm defaults to mode="graph" (statistics over all nodes at once), which
    # a sampled batch or an inference chunk cannot reproduce; "node" normalises each row.
    "layer": ("layer_norm", MappingProxyType({"mode": "node"})),
}


def _check_name(name: Any, argument: str = "name") -> str:
    if not isinstance(name, str) or name not in NODE_MODELS:
        raise ValueError(f"{argument} must be one of {sorted(NODE_MODELS)}, got {name!r}")
    return name


def build_node_model(name: str, in_channels: int, out_channels: int, *, hidden: int = 256,
                     layers: int = 3, dropout: float = 0.5, norm: str | None = None,
                     heads: int = 4) -> BasicGNN:
    r"""A PyG GNN for node classification by name (:data:`NODE_MODELS`): GCN from
    `"Semi-supervised Classification with Graph Convolutional Networks"
    <https://arxiv.org/abs/1609.02907>`_, GraphSAGE from `"Inductive Representation
    Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_, GAT from `"Graph
    Attention Networks" <https://arxiv.org/abs/1710.10903>`_ and GIN from `"How Powerful
    are Graph Neural Networks?" <https://arxiv.org/abs/1810.00826>`_.

    The model is PyG's :class:`~torch_geometric.nn.models.basic_gnn.BasicGNN` with ``layers``
    message-passing layers, ``hidden`` channels, ReLU, dropout after every hidden layer,
    no jumping knowledge, and the last layer mapping to ``out_channels``. GCN has
    ``normalize=False``: feed it :func:`prepare_graph`'s edge index and weights. GAT follows
    PyG: each hidden layer has ``heads`` heads of ``hidden // heads`` channels,
    concatenated to ``hidden`` (so ``hidden`` must be divisible by ``heads``), and the last
    layer has ``heads`` heads of ``out_channels`` channels, averaged.

    Args:
        name (str): ``"gcn"``, ``"sage"``, ``"gat"`` or ``"gin"``.
        in_channels (int): input feature dimension.
        out_channels (int): output dimension (number of classes).
        hidden (int, optional): hidden channels. (default: ``256``)
        layers (int, optional): message-passing layers. (default: ``3``)
        dropout (float, optional): dropout probability in ``[0, 1)``, after every hidden
            layer (and on GAT's attention coefficients). (default: ``0.5``)
        norm (str, optional): ``None``, ``"batch"`` (PyG's ``"batch_norm"``) or ``"layer"``
            (PyG's ``"layer_norm"`` per node, ``mode="node"``), after every hidden layer
            (and inside GIN's MLPs). (default: ``None``)
        heads (int, optional): attention heads of GAT; checked but unused by the other
            models. (default: ``4``)

    Example:
        >>> model = build_node_model("gcn", 1433, 7, hidden=64, layers=2)
        >>> edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
        >>> out = model(data.x, edge_index, edge_weight)  # [N, 7]
    """
    entry = NODE_MODELS[_check_name(name)]
    for argument, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("hidden", hidden), ("layers", layers), ("heads", heads)):
        check_positive_int(argument, value)
    check_range("dropout", dropout, 0.0, 1.0, high_open=True)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    kwargs: dict[str, Any] = dict(entry.fixed)
    if name == "gat":
        # PyG concatenates the heads of every hidden layer (hidden // heads each); the last
        # layer averages them, so only hidden layers need the divisibility.
        if layers > 1 and hidden % heads:
            raise ValueError(f"hidden must be divisible by heads for gat, got hidden={hidden} "
                             f"and heads={heads}")
        kwargs["heads"] = heads
    pyg_norm, norm_kwargs = NORMS[norm]
    return entry.cls(in_channels, hidden, layers, out_channels, dropout=float(dropout),
                     norm=pyg_norm, norm_kwargs=dict(norm_kwargs) if norm_kwargs else None,
                     **kwargs)


def prepare_graph(model_name: str, edge_index: Tensor,
                  num_nodes: int) -> tuple[Tensor, Tensor | None]:
    r"""The ``(edge_index, edge_weight)`` a model of :data:`NODE_MODELS` is fed, computed
    once on the full graph.

    For ``"gcn"``: the symmetric normalisation of `"Semi-supervised Classification with
    Graph Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_,

    .. math::
        \hat A = \hat D^{-1/2} (A + I) \hat D^{-1/2}, \qquad \hat D_{ii} = 1 + \sum_j A_{ji},

    by :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm` (self-loops added where missing,
    in the returned ``edge_index``), which is what ``GCNConv(normalize=True)`` computes on
    the full graph. The weights stay with their edges under sampling, so a sampled
    subgraph keeps the full graph's degrees. For the other models: ``(edge_index, None)``.

    Args:
        model_name (str): a key of :data:`NODE_MODELS`.
        edge_index (torch.Tensor): ``[2, E]`` node ids, ``source -> target``.
        num_nodes (int): number of nodes of the graph.

    Example:
        >>> edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
    """
    _check_name(model_name, "model_name")
    check_positive_int("num_nodes", num_nodes)
    check_edge_index(edge_index, num_nodes)
    if model_name != "gcn":
        return edge_index, None
    edge_index, edge_weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=True)
    return edge_index, edge_weight


def uses_edge_weight(model: torch.nn.Module) -> bool:
    """Whether ``model`` (or the model a ``DistributedDataParallel`` wraps) takes edge
    weights in its forward, i.e. is fed :func:`prepare_graph`'s ``edge_weight`` (PyG's
    ``supports_edge_weight``: ``True`` for GCN, ``False`` for GraphSAGE, GAT and GIN).

    Example:
        >>> uses_edge_weight(build_node_model("gcn", 16, 4))
        True
    """
    model = getattr(model, "module", model)  # DistributedDataParallel and friends
    return bool(getattr(model, "supports_edge_weight", False))


__all__ = ["NODE_MODELS", "NORMS", "NodeModel", "build_node_model", "prepare_graph",
           "uses_edge_weight"]
