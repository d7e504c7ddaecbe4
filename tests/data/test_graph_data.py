"""graph_data: the clean, undirected Data every loader returns."""

from __future__ import annotations

import pytest
import torch

from fgsam.data.graph_data import graph_data, num_undirected_edges


def test_symmetrises_deduplicates_and_drops_self_loops() -> None:
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 2, 1, 0]])
    data = graph_data(torch.ones(4, 2, dtype=torch.float64), edges, torch.tensor([0, 1, 0, 1]),
                      "g", features="published")
    assert data.edge_index.tolist() == [[0, 0, 1, 1, 2, 3], [1, 3, 0, 2, 1, 0]]
    assert num_undirected_edges(data) == 3
    assert data.x.dtype == torch.float32 and data.y.dtype == torch.long
    assert data.name == "g" and data.features == "published"


def test_refuses_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="3 labels for 4 nodes"):
        graph_data(torch.ones(4, 1), torch.tensor([[0], [1]]), torch.zeros(3), "g")
    with pytest.raises(ValueError, match=r"outside the node ids 0\.\.3"):
        graph_data(torch.ones(4, 1), torch.tensor([[0], [4]]), torch.zeros(4), "g")
