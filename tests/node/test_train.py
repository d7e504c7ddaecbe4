"""The sampled step's edge weights: scaled so that a sampled neighbourhood estimates the whole."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from fgsam.data.neighbor_sampler import NeighborSampler
from fgsam.data.synthetic import GraphShape, synthetic_graph
from fgsam.node.models import prepare_graph
from fgsam.node.train import sampled_edge_weight


def test_scaled_samples_estimate_the_full_aggregation_and_unscaled_ones_do_not():
    data = synthetic_graph(GraphShape(200, 8000, 4, 2), seed=1, dtype=torch.float64)
    edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
    graph = Data(x=data.x, edge_index=edge_index, edge_weight=edge_weight, num_nodes=200)
    in_degree = torch.bincount(edge_index[1], minlength=200)
    conv = GCNConv(4, 4, normalize=False, bias=False).double()
    conv.lin.weight.data = torch.eye(4, dtype=torch.float64)  # the aggregation itself
    seeds = torch.arange(20)
    exact = conv(data.x, edge_index, edge_weight)[seeds]
    scaled, raw = [], []
    for epoch in range(300):  # fresh neighbours each epoch, the same seeds in one batch
        sampler = NeighborSampler(graph, [5], input_nodes=seeds, batch_size=20)
        sampler.set_epoch(epoch)
        batch = next(iter(sampler))
        assert torch.equal(batch.n_id[:20], seeds)
        scaled.append(conv(batch.x, batch.edge_index, sampled_edge_weight(batch, in_degree))[:20])
        raw.append(conv(batch.x, batch.edge_index, batch.edge_weight)[:20])
    relative = lambda mean: float((mean - exact).norm() / exact.norm())  # noqa: E731
    assert relative(torch.stack(scaled).mean(0)) < 0.05  # ~80 in-edges, 5 sampled: unbiased
    assert relative(torch.stack(raw).mean(0)) > 0.5  # a sixteenth of each sum


def test_every_in_edge_sampled_leaves_the_weights_as_they_are():
    data = synthetic_graph(GraphShape(100, 800, 4, 2), seed=2)
    edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
    graph = Data(x=data.x, edge_index=edge_index, edge_weight=edge_weight, num_nodes=100)
    batch = next(iter(NeighborSampler(graph, [-1, -1], input_nodes=torch.arange(10),
                                      batch_size=10)))
    in_degree = torch.bincount(edge_index[1], minlength=100)
    # the second hop's targets have every in-edge; the outer nodes none (no edge to scale)
    assert torch.equal(sampled_edge_weight(batch, in_degree), batch.edge_weight)
