"""The one shape every few-shot graph loader returns: a clean, undirected PyG ``Data``."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected


def graph_data(x: Tensor, edge_index: Tensor, y: Tensor, name: str, **extra: object) -> Data:
    """A ``Data`` with float32 ``x [N, F]``, undirected coalesced ``edge_index`` without
    self-loops (both directions stored), long ``y [N]`` (``-1`` marks an unlabelled node)
    and ``name``; ``extra`` attributes (e.g. ``features``) are attached as given.
    """
    num_nodes = int(x.size(0))
    edge_index = torch.as_tensor(edge_index, dtype=torch.long).reshape(2, -1)
    y = torch.as_tensor(y, dtype=torch.long).reshape(-1)
    if y.numel() != num_nodes:
        raise ValueError(f"{name}: {y.numel()} labels for {num_nodes} nodes")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"{name}: edge endpoints span {int(edge_index.min())}.."
                         f"{int(edge_index.max())}, outside the node ids 0..{num_nodes - 1}")
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    data = Data(x=x.to(torch.float32).contiguous(), edge_index=edge_index, y=y, name=name)
    for key, value in extra.items():
        data[key] = value
    return data


def num_undirected_edges(data: Data) -> int:
    """Undirected edges of a graph built by :func:`graph_data` (each stored both ways)."""
    return int(data.edge_index.size(1)) // 2


__all__ = ["graph_data", "num_undirected_edges"]
