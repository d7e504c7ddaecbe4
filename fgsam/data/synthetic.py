"""Synthetic graphs with the exact shapes of the large benchmarks (contextual SBM)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class GraphShape:
    """The shape of a node-classification graph.

    Args:
        num_nodes (int): number of nodes.
        num_edges (int): number of ``edge_index`` columns.
        num_features (int): feature dimension.
        num_classes (int): number of classes.
        sparse (bool, optional): bag-of-words style sparse features. (default: ``False``)
        symmetric (bool, optional): every edge comes with its reverse (``num_edges`` is
            then even); otherwise edges are directed. (default: ``True``)
        feature_density (float, optional): fraction of non-zero entries of sparse
            features. (default: ``0.01``)
    """

    num_nodes: int
    num_edges: int
    num_features: int
    num_classes: int
    sparse: bool = False
    symmetric: bool = True
    feature_density: float = 0.01

    def __post_init__(self) -> None:
        for name in ("num_nodes", "num_edges", "num_features", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.num_classes > self.num_nodes:
            raise ValueError(
                f"num_classes ({self.num_classes}) must not exceed num_nodes ({self.num_nodes})"
            )
        pairs = self.num_edges // 2 if self.symmetric else self.num_edges
        if self.symmetric and self.num_edges % 2:
            raise ValueError(f"a symmetric graph needs an even num_edges, got {self.num_edges}")
        possible = self.num_nodes * (self.num_nodes - 1) // (2 if self.symmetric else 1)
        if pairs > possible // 2:
            raise ValueError(
                f"num_edges={self.num_edges} is too dense for {self.num_nodes} nodes "
                f"(at most {2 * (possible // 2) if self.symmetric else possible // 2})"
            )
        if not 0 < self.feature_density <= 1:
            raise ValueError(f"feature_density must be in (0, 1], got {self.feature_density!r}")


#: The published shapes of the few-shot / large-scale benchmarks that are not available
#: offline (PyG/OGB edge counts; ogbn-arxiv is directed, about 2.3 M edges once made
#: undirected with :func:`torch_geometric.utils.to_undirected`).
SHAPES: dict[str, GraphShape] = {
    "corafull": GraphShape(19_793, 126_842, 8_710, 70, sparse=True),
    "dblp": GraphShape(40_672, 288_270, 7_202, 137, sparse=True),
    "ogbn-arxiv": GraphShape(169_343, 1_166_243, 128, 40, symmetric=False),
    "ogbn-products": GraphShape(2_449_029, 123_718_280, 100, 47),
}


def synthetic_graph(
    shape: str | GraphShape,
    seed: int = 0,
    homophily: float = 0.8,
    signal: float = 1.0,
    dtype: torch.dtype = torch.float32,
):
    r"""A contextual stochastic block model graph with the exact shape of a benchmark.

    Following `"Contextual Stochastic Block Models" <https://arxiv.org/abs/1807.09596>`_
    (Deshpande et al., NeurIPS 2018): every node gets a class :math:`y_i` uniformly at
    random; an edge starts at a uniform node :math:`u` and ends, with probability
    ``homophily``, at a uniform node of class :math:`y_u`, otherwise at a uniform node
    (self-loops and duplicates are redrawn, so the edge count is exact). Dense features
    are :math:`x_i = \mathrm{signal} \cdot \mu_{y_i} + \xi_i` with
    :math:`\mu_c, \xi_i \sim \mathcal{N}(0, I/F)`; sparse (bag-of-words) features draw
    ``feature_density * F`` words per node, half of them from a vocabulary slice of the
    node's class, with value 1. Use these graphs for timing and scale: time depends on
    the shape, not the content; accuracy claims need real data.

    Args:
        shape (str or GraphShape): ``"corafull"``, ``"dblp"``, ``"ogbn-arxiv"``,
            ``"ogbn-products"`` (see :data:`SHAPES`), or any :class:`GraphShape`.
        seed (int, optional): seed of the graph's own generator. (default: ``0``)
        homophily (float, optional): probability that an edge stays in its class.
            (default: ``0.8``)
        signal (float, optional): strength of the class signal in the features.
            (default: ``1.0``)
        dtype (torch.dtype, optional): feature dtype. (default: ``torch.float32``)

    Returns:
        torch_geometric.data.Data: ``x`` (a sparse COO tensor for sparse shapes),
        ``edge_index`` (sorted, without self-loops or duplicates) and ``y``.

    Example:
        >>> data = synthetic_graph("corafull", seed=0)
        >>> data.num_nodes, data.num_edges, data.x.shape[1]
        (19793, 126842, 8710)
    """
    from torch_geometric.data import Data

    shape = _resolve(shape)
    if not 0 <= homophily <= 1:
        raise ValueError(f"homophily must be in [0, 1], got {homophily!r}")
    gen = torch.Generator().manual_seed(seed)
    n = shape.num_nodes
    y = torch.randint(0, shape.num_classes, (n,), generator=gen)
    edge_index = _edges(shape, y, homophily, gen)
    x = _sparse_features(shape, y, gen, dtype) if shape.sparse else _dense_features(
        shape, y, signal, gen, dtype
    )
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=n)


def _resolve(shape: str | GraphShape) -> GraphShape:
    if isinstance(shape, GraphShape):
        return shape
    if isinstance(shape, str) and shape.lower() in SHAPES:
        return SHAPES[shape.lower()]
    raise ValueError(f"shape must be a GraphShape or one of {sorted(SHAPES)}, got {shape!r}")


def _edges(shape: GraphShape, y: Tensor, homophily: float, gen: torch.Generator) -> Tensor:
    """Distinct homophilous edges, exactly ``num_edges`` columns, sorted by (row, col)."""
    n = shape.num_nodes
    order = torch.argsort(y)  # nodes grouped by class
    sizes = torch.bincount(y, minlength=shape.num_classes)
    starts = torch.cumsum(sizes, 0) - sizes
    need = shape.num_edges // 2 if shape.symmetric else shape.num_edges
    keys = torch.empty(0, dtype=torch.long)
    while keys.numel() < need:
        m = int((need - keys.numel()) * 1.1) + 16
        src = torch.randint(0, n, (m,), generator=gen)
        c = y[src]
        inside = torch.rand(m, generator=gen) < homophily
        offset = (torch.rand(m, generator=gen) * sizes[c]).long()
        anywhere = torch.randint(0, n, (m,), generator=gen)
        dst = torch.where(inside, order[starts[c] + offset], anywhere)
        keep = src != dst
        src, dst = src[keep], dst[keep]
        if shape.symmetric:
            src, dst = torch.minimum(src, dst), torch.maximum(src, dst)
        keys = torch.unique(torch.cat([keys, src * n + dst]))
    if keys.numel() > need:  # unique() sorts: drop a uniform random subset, not the tail
        keys = keys[torch.randperm(keys.numel(), generator=gen)[:need]]
    row, col = keys // n, keys % n
    if shape.symmetric:
        row, col = torch.cat([row, col]), torch.cat([col, row])
    perm = torch.argsort(row * n + col)
    return torch.stack([row[perm], col[perm]])


def _dense_features(
    shape: GraphShape, y: Tensor, signal: float, gen: torch.Generator, dtype: torch.dtype
) -> Tensor:
    f = shape.num_features
    means = torch.randn(shape.num_classes, f, generator=gen) / math.sqrt(f)
    noise = torch.randn(shape.num_nodes, f, generator=gen) / math.sqrt(f)
    return noise.add_(means[y], alpha=signal).to(dtype)


def _sparse_features(
    shape: GraphShape, y: Tensor, gen: torch.Generator, dtype: torch.dtype
) -> Tensor:
    n, f, c = shape.num_nodes, shape.num_features, shape.num_classes
    words = max(1, round(shape.feature_density * f))
    topic = max(1, f // c)  # each class prefers its own slice of the vocabulary
    rows = torch.arange(n).repeat_interleave(words)
    from_topic = torch.rand(n * words, generator=gen) < 0.5
    in_slice = (y.repeat_interleave(words) * topic + torch.randint(
        0, topic, (n * words,), generator=gen)) % f
    cols = torch.where(from_topic, in_slice, torch.randint(0, f, (n * words,), generator=gen))
    values = torch.ones(n * words, dtype=dtype)
    x = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, f), check_invariants=True)
    # Repeated words collapse to one entry of value 1 (binary bag of words).
    x = x.coalesce()
    return torch.sparse_coo_tensor(x.indices(), torch.ones_like(x.values()), (n, f),
                                   is_coalesced=True, check_invariants=False)


__all__ = ["SHAPES", "GraphShape", "synthetic_graph"]
