"""Multi-head attention over the edges of a graph, with a per-edge score bias."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax


class SparseAttention(torch.nn.Module):
    r"""Multi-head scaled dot-product attention restricted to the given edges, as in
    graph transformers with structural biases (`Ying et al., "Do Transformers Really
    Perform Bad for Graph Representation?", NeurIPS 2021
    <https://arxiv.org/abs/2106.05234>`_), computed sparsely.

    For every edge :math:`j \to i` and head :math:`h`:

    .. math::
        s^h_{ij} = \frac{\langle W_Q^h x_i, W_K^h x_j \rangle}{\sqrt{d}} + b^h_{ij},
        \qquad \alpha^h_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i)} s^h_{ij},
        \qquad y_i = W_O \big\Vert_h \sum_{j} \alpha^h_{ij} W_V^h x_j,

    the softmax taken over the incoming edges of :math:`i` only
    (:func:`torch_geometric.utils.softmax`),
    so cost and memory are :math:`O(|E|)` rather than :math:`O(N^2)`.

    Args:
        channels (int): input and output width :math:`C` (a multiple of ``heads``).
        heads (int, optional): number of heads :math:`H`. (default: ``4``)
        dropout (float, optional): dropout on the attention weights. (default: ``0.0``)

    Example:
        >>> attn = SparseAttention(64, heads=4)
        >>> y = attn(x, edge_index, bias)  # bias: [E, 4]
    """

    def __init__(self, channels: int, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(
                f"channels must be a multiple of heads, got channels={channels}, heads={heads}"
            )
        self.channels, self.heads = channels, heads
        self.head_dim = channels // heads
        self.qkv = torch.nn.Linear(channels, 3 * channels)
        self.out = torch.nn.Linear(channels, channels)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, bias: Tensor | None = None) -> Tensor:
        """``x``: ``[N, C]``; ``edge_index``: ``[2, E]`` (source, target);
        ``bias``: ``[E, H]`` added to the scores. Returns ``[N, C]``."""
        n = x.size(0)
        q, k, v = self.qkv(x).view(n, 3, self.heads, self.head_dim).unbind(1)
        src, dst = edge_index
        scores = (q.index_select(0, dst) * k.index_select(0, src)).sum(-1)
        scores = scores / math.sqrt(self.head_dim)
        if bias is not None:
            scores = scores + bias
        alpha = self.dropout(softmax(scores, dst, num_nodes=n))
        messages = alpha.unsqueeze(-1) * v.index_select(0, src)
        return self.out(scatter(messages, dst, 0, n, reduce="sum").reshape(n, self.channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, heads={self.heads}"


__all__ = ["SparseAttention"]
