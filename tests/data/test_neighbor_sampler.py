"""NeighborSampler: uniform neighbour sampling without replacement, NeighborLoader's batches."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCN, GraphSAGE
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from fgsam.data import GraphShape, NeighborSampler, synthetic_graph

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def graph(symmetric: bool = True, device: str = "cpu") -> Data:
    """300 nodes with in-degrees from 0 to about 60 (a few hubs), no duplicate edges."""
    data = synthetic_graph(GraphShape(300, 3000, 6, 4, symmetric=symmetric), seed=3,
                           dtype=torch.float64)
    hub_edges = torch.stack([torch.arange(10, 60), torch.zeros(50, dtype=torch.long)])
    edge_index = torch.cat([data.edge_index, hub_edges, hub_edges.flip(0)], 1)
    data.edge_index = torch.unique(edge_index[:, edge_index[0] != edge_index[1]], dim=1)
    return data.to(device)


def in_degree(data: Data) -> torch.Tensor:
    return torch.bincount(data.edge_index[1], minlength=data.num_nodes)


def hops(batch) -> list[torch.Tensor]:
    """Local ids of the nodes first reached at each hop (hop 0: the seeds)."""
    bounds = [0, *itertools.accumulate(batch.num_sampled_nodes)]
    return [torch.arange(a, b) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("symmetric", [True, False])
def test_sampled_edges_exist_fan_outs_are_exact_and_nothing_repeats(device, symmetric):
    data = graph(symmetric, device)
    deg = in_degree(data).cpu()
    edges = set(map(tuple, data.edge_index.t().tolist()))
    sampler = NeighborSampler(data, [4, 3], batch_size=32, shuffle=True, generator=1)
    for batch in sampler:
        n_id, (row, col) = batch.n_id.cpu(), batch.edge_index.cpu()
        pairs = list(zip(n_id[row].tolist(), n_id[col].tolist()))
        assert set(pairs) <= edges  # from neighbour (source) to its target
        assert len(set(pairs)) == len(pairs)  # without replacement: no edge twice
        assert n_id.unique().numel() == n_id.numel()
        assert torch.equal(data.edge_index[:, batch.e_id].cpu(), torch.stack([n_id[row],
                                                                              n_id[col]]))
        sampled = torch.bincount(col, minlength=batch.num_nodes)
        levels = hops(batch)
        for k, targets in zip([4, 3], levels[:-1]):
            assert torch.equal(sampled[targets], deg[n_id[targets]].clamp(max=k))
        assert int(sampled[levels[-1]].sum()) == 0  # the last hop's nodes are only sources
        assert batch.num_sampled_edges == [int(sampled[t].sum()) for t in levels[:-1]]


@pytest.mark.parametrize("device", DEVICES)
def test_seeds_come_first_and_an_epoch_covers_every_input_node_once(device):
    data = graph(device=device)
    mask = torch.arange(data.num_nodes, device=device) % 3 == 0
    sampler = NeighborSampler(data, [2], input_nodes=mask, batch_size=16, shuffle=True,
                              generator=0)
    seen = []
    for batch in sampler:
        seeds = batch.n_id[: batch.batch_size]
        assert torch.equal(seeds, mask.nonzero().view(-1)[batch.input_id])
        assert torch.equal(batch.x, data.x[batch.n_id])
        assert torch.equal(batch.y[: batch.batch_size], data.y[seeds])
        seen.append(seeds)
    assert len(seen) == len(sampler) == 7  # ceil(100 / 16)
    assert torch.equal(torch.cat(seen).sort().values, mask.nonzero().view(-1))
    assert batch.batch_size == 100 - 6 * 16


def test_same_seed_same_batches_other_seed_other_batches():
    data = graph()

    def run(seed):
        sampler = NeighborSampler(data, [3, 3], batch_size=50, shuffle=True, generator=seed)
        return [(b.n_id, b.edge_index) for b in sampler]

    first, again, other = run(7), run(7), run(8)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(first, again))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))


def test_global_rng_is_left_alone():
    state = torch.get_rng_state()
    list(NeighborSampler(graph(), [3, 3], batch_size=64, shuffle=True))
    assert torch.equal(torch.get_rng_state(), state)


def test_every_subset_of_neighbours_is_equally_likely():
    # 400 targets with the same 6 in-neighbours; 2 of the 6 drawn for each, 10 times over:
    # each of the 15 pairs is expected 400 * 10 / 15 times.
    sources = torch.arange(6).repeat(400)
    targets = torch.arange(6, 406).repeat_interleave(6)
    data = Data(edge_index=torch.stack([sources, targets]), num_nodes=406)
    sampler = NeighborSampler(data, [2], input_nodes=torch.arange(6, 406), batch_size=400,
                              generator=5)
    counts: Counter = Counter()
    for _ in range(10):
        batch = next(iter(sampler))
        row, col = batch.edge_index
        picks = batch.n_id[row].view(400, 2)  # edges come grouped by target
        assert torch.equal(col.view(400, 2), torch.arange(400).view(400, 1).expand(400, 2))
        counts.update(tuple(sorted(p)) for p in picks.tolist())
    assert len(counts) == 15
    expected = 4000 / 15
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 40  # 14 degrees of freedom: p < 1e-3 above 36


def test_two_hop_gcn_on_the_batch_equals_the_full_graph_when_taking_all():
    data = graph()
    # Symmetric normalisation needs the full graph's degrees: computed once, sliced by e_id.
    data.edge_index, data.edge_weight = gcn_norm(data.edge_index, num_nodes=data.num_nodes,
                                                 dtype=torch.float64)
    gcn = GCN(6, 8, 2, 4, normalize=False).double().eval()
    full = gcn(data.x, data.edge_index, data.edge_weight)
    sampler = NeighborSampler(data, [-1, -1], batch_size=40, shuffle=True, generator=2)
    for batch in sampler:
        out = gcn(batch.x, batch.edge_index, batch.edge_weight)[: batch.batch_size]
        torch.testing.assert_close(out, full[batch.n_id[: batch.batch_size]])


def test_two_hop_sage_on_the_batch_equals_the_full_graph_when_taking_all():
    data = graph(symmetric=False)
    sage = GraphSAGE(6, 8, 2, 4).double().eval()
    full = sage(data.x, data.edge_index)
    batch = NeighborSampler(data, [-1, -1]).sample(torch.tensor([0, 5, 17, 250]))
    out = sage(batch.x, batch.edge_index)[: batch.batch_size]
    torch.testing.assert_close(out, full[[0, 5, 17, 250]])
    few = NeighborSampler(data, [2, 2]).sample(torch.tensor([0, 5, 17, 250]))
    assert few.edge_index.size(1) < batch.edge_index.size(1)


def test_sparse_features_are_sliced_as_sparse_rows():
    data = synthetic_graph(GraphShape(500, 4000, 300, 5, sparse=True, feature_density=0.05))
    batch = next(iter(NeighborSampler(data, [5, 5], batch_size=64, shuffle=True)))
    assert batch.x.layout == torch.sparse_coo and batch.x.is_coalesced()
    assert torch.equal(batch.x.to_dense(), data.x.to_dense()[batch.n_id])


def test_length_repr_and_drop_last():
    data = graph()
    sampler = NeighborSampler(data, [5, -1], batch_size=64, drop_last=True)
    assert len(sampler) == len(list(sampler)) == 4
    assert all(b.batch_size == 64 for b in sampler)
    assert repr(sampler) == ("NeighborSampler(num_nodes=300, num_neighbors=[5, -1], "
                             "input_nodes=300, batch_size=64, shuffle=False, batches=4, "
                             "device=cpu)")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_neighbors": []}, "num_neighbors must be a non-empty list"),
    ({"num_neighbors": [5, 0]}, r"num_neighbors .* got \[5, 0\]"),
    ({"num_neighbors": [2.5]}, r"num_neighbors .* got \[2.5\]"),
    ({"num_neighbors": "5,5"}, "num_neighbors .* got '5,5'"),
    ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ({"input_nodes": torch.tensor([1, 1])}, "input_nodes has duplicates"),
    ({"input_nodes": torch.tensor([0, 300])}, r"input_nodes has ids 0..300, outside 0..299"),
    ({"input_nodes": torch.tensor([0.5])}, "input_nodes must be a 1-D tensor of node ids"),
    ({"input_nodes": torch.ones(3, dtype=torch.bool)}, r"must have shape \(300,\)"),
    ({"generator": "seed"}, "generator must be an int seed or a torch.Generator, got 'seed'"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeighborSampler(graph(), **{"num_neighbors": [3], **kwargs})


def test_a_graph_without_edge_index_is_refused():
    with pytest.raises(ValueError, match="edge_index of shape"):
        NeighborSampler(Data(x=torch.zeros(3, 1)), [2])
