"""Softmax and sum over the incoming edges of every node (the sparse attention kernels)."""

from __future__ import annotations

from torch import Tensor

from fgsam import typing as fgsam_typing


def edge_softmax(scores: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    r"""Softmax of edge scores over the incoming edges of each node.

    .. math::
        \alpha_{e} = \frac{\exp(s_e)}{\sum_{e' : \mathrm{dst}(e') = \mathrm{dst}(e)}
        \exp(s_{e'})},

    computed per column of ``scores`` (one column per attention head). Uses
    ``torch_scatter`` when :data:`fgsam.typing.WITH_TORCH_SCATTER` and native PyTorch
    (``scatter_reduce`` and ``index_add_``) otherwise; both subtract the per-node maximum
    first, so large scores do not overflow.

    Args:
        scores (torch.Tensor): ``[E]`` or ``[E, H]`` edge scores.
        index (torch.Tensor): ``[E]`` target node of each edge.
        num_nodes (int): number of nodes :math:`N`.

    Example:
        >>> alpha = edge_softmax(scores, edge_index[1], x.size(0))
    """
    if fgsam_typing.WITH_TORCH_SCATTER:
        from torch_scatter.composite import scatter_softmax

        return scatter_softmax(scores, index, dim=0, dim_size=num_nodes)
    shape = (num_nodes, *scores.shape[1:])
    expanded = _expand(index, scores)
    # The maximum only shifts the exponent; no gradient needs to flow through it.
    peak = scores.new_full(shape, float("-inf")).scatter_reduce_(
        0, expanded, scores.detach(), "amax", include_self=True
    )
    exp = (scores - peak.index_select(0, index)).exp()
    total = scores.new_zeros(shape).index_add_(0, index, exp)
    return exp / total.index_select(0, index)


def edge_sum(values: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """Sum of edge ``values`` (``[E, ...]``) into their target nodes: ``[N, ...]``.

    Uses ``torch_scatter`` when :data:`fgsam.typing.WITH_TORCH_SCATTER`, else
    ``index_add_``.

    Example:
        >>> out = edge_sum(alpha.unsqueeze(-1) * v[src], dst, x.size(0))
    """
    if fgsam_typing.WITH_TORCH_SCATTER:
        from torch_scatter import scatter_add

        return scatter_add(values, index, dim=0, dim_size=num_nodes)
    return values.new_zeros((num_nodes, *values.shape[1:])).index_add_(0, index, values)


def _expand(index: Tensor, like: Tensor) -> Tensor:
    return index.view(-1, *([1] * (like.dim() - 1))).expand_as(like)


__all__ = ["edge_softmax", "edge_sum"]
