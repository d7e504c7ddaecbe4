r"""GraphSAGE that transforms before it aggregates where that is exact and cheaper.

PyG's :class:`~torch_geometric.nn.conv.SAGEConv` aggregates its raw input and transforms
the result, :math:`\mathrm{lin}_l(\mathrm{mean}_{j \in N(i)} x_j)`. With a linear
aggregation (sum or mean) the transform commutes with it,

.. math::
    W \Big(\frac{1}{|N(i)|} \sum_{j \in N(i)} x_j\Big) + b
    = \frac{1}{|N(i)|} \sum_{j \in N(i)} W x_j + b,

(an empty neighbourhood aggregates to 0 either way, which is why the bias is added after
the aggregation), so the messages can be :math:`W x_j` with ``out_channels`` entries
instead of :math:`x_j` with ``in_channels``. On a graph with wide features that is most of
the cost: BlogCatalog's 8,189 bag-of-words columns over 343k edges are 2.8 G multiply-adds
per forward aggregated raw, 0.03 G transformed first (plus the same dense
:math:`XW` product both ways need for :math:`\mathrm{lin}_r`). The parameters, their names
and the outputs are PyG's (equal within float rounding: the same sum in another order).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.models import GraphSAGE

from fgsam.nn.propagate_hooks import propagation_observed

#: Aggregations that are linear in the messages, so the transform may come first.
LINEAR_AGGREGATIONS = ("add", "sum", "mean")


class LinearFirstSAGEConv(SAGEConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.SAGEConv` from `"Inductive Representation
    Learning on Large Graphs" <https://arxiv.org/abs/1706.02216>`_,

    .. math::
        x_i' = W_l \cdot \mathrm{mean}_{j \in N(i)} x_j + b_l + W_r x_i,

    computed as :math:`\mathrm{mean}_{j \in N(i)} (W_l x_j) + b_l + W_r x_i` when that is
    exact and cheaper: a sum or mean aggregation given by name, no ``project``, fewer output
    than input channels, dense tensor features and no propagate hooks. Otherwise it is
    ``SAGEConv.forward`` unchanged. It takes every argument of ``SAGEConv``; the edge list,
    a bipartite pair ``(x_src, x_dst)`` and a sparse ``adj_t`` all work.

    Example:
        >>> conv = LinearFirstSAGEConv(8189, 64)
        >>> out = conv(x, edge_index)  # == SAGEConv.forward(conv, x, edge_index)
    """

    @property
    def linear_first(self) -> bool:
        """Whether the layer's configuration lets :meth:`forward` transform first (a
        linear aggregation by name, no ``project``, fewer output than input channels, no
        propagate hooks, not being explained)."""
        return (isinstance(self.aggr, str) and self.aggr in LINEAR_AGGREGATIONS
                and not self.project and 0 < self.out_channels < self.lin_l.in_channels
                and not propagation_observed(self))

    def transforms_first(self, x: Any) -> bool:
        """Whether :meth:`forward` on ``x`` transforms before aggregating: :attr:`linear_first`
        and dense tensor features."""
        source = x[0] if isinstance(x, tuple) else x
        return self.linear_first and isinstance(source, Tensor) and source.layout == torch.strided

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None], edge_index: Any,
                size: Any = None) -> Tensor:
        if not self.transforms_first(x):
            return super().forward(x, edge_index, size)
        x_src, x_dst = x if isinstance(x, tuple) else (x, x)
        # PyG infers the node counts from dim 0 only, so the narrower messages are fine.
        out = self.propagate(edge_index, x=(F.linear(x_src, self.lin_l.weight), x_dst),
                             size=size)
        if self.lin_l.bias is not None:
            out = out + self.lin_l.bias
        if self.root_weight and x_dst is not None:
            out = out + self.lin_r(x_dst)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out


class LinearFirstGraphSAGE(GraphSAGE):
    r"""PyG's :class:`~torch_geometric.nn.models.GraphSAGE` built from
    :class:`LinearFirstSAGEConv`: the same arguments, parameters and outputs, with each
    layer that narrows its input transformed before the aggregation.

    Example:
        >>> model = LinearFirstGraphSAGE(8189, 64, 2, 39)
        >>> out = model(x, edge_index)
    """

    def init_conv(self, in_channels: int | tuple[int, int], out_channels: int,
                  **kwargs: Any) -> LinearFirstSAGEConv:
        return LinearFirstSAGEConv(in_channels, out_channels, **kwargs)


__all__ = ["LINEAR_AGGREGATIONS", "LinearFirstGraphSAGE", "LinearFirstSAGEConv"]
