"""Softmax and sum over the incoming edges of every node: thin aliases of PyG's helpers.

Kept for compatibility; new code calls :func:`torch_geometric.utils.softmax` and
:func:`torch_geometric.utils.scatter` directly (as :class:`SparseAttention` does).
"""

from __future__ import annotations

from torch import Tensor
from torch_geometric.utils import scatter, softmax


def edge_softmax(scores: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    r"""Softmax of edge scores (``[E]`` or ``[E, H]``, one column per head) over the
    incoming edges of each node, ``index`` (``[E]``) being each edge's target:
    ``torch_geometric.utils.softmax(scores, index, num_nodes=num_nodes)``.

    .. math::
        \alpha_{e} = \frac{\exp(s_e)}{\sum_{e' : \mathrm{dst}(e') = \mathrm{dst}(e)}
        \exp(s_{e'})}

    Example:
        >>> alpha = edge_softmax(scores, edge_index[1], x.size(0))
    """
    return softmax(scores, index, num_nodes=num_nodes)


def edge_sum(values: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """Sum of edge ``values`` (``[E, ...]``) into their target nodes (``[N, ...]``):
    ``torch_geometric.utils.scatter(values, index, 0, num_nodes, reduce="sum")``.

    Example:
        >>> out = edge_sum(alpha.unsqueeze(-1) * v[src], dst, x.size(0))
    """
    return scatter(values, index, 0, num_nodes, reduce="sum")


__all__ = ["edge_softmax", "edge_sum"]
