"""NeighborSampler: uniform neighbour sampling without replacement, NeighborLoader's batches."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCN, GraphSAGE
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from fgsam.data import GraphShape, synthetic_graph
from fgsam.data.neighbor_sampler import NeighborSampler
from fgsam.data.seed_shard import SeedShard

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
                             "input_nodes=300, batch_size=64, shuffle=False, drop_last=True, "
                             "seed=0, rank=0, world_size=1, epoch=2, num_workers=0, "
                             "features=None, batches=4, device=cpu)")


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


# ------------------------------------------------- ranks, epochs, workers, reproducibility


def seeds_of(batches) -> list[torch.Tensor]:
    return [b.n_id[: b.batch_size] for b in batches]


def same_batches(a, b) -> bool:
    keys = ("n_id", "e_id", "input_id", "edge_index", "x", "y")
    return len(a) == len(b) and all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in keys)


SHARDS = [(n, b, w) for n in (1, 5, 31, 32, 33, 97, 100) for b in (1, 4, 16)
          for w in (1, 2, 3) if w <= n]


@pytest.mark.parametrize("drop_last", [False, True])
def test_seed_shard_steps_concatenate_to_one_process_and_counts_are_equal(drop_last):
    for n, b, w in SHARDS:
        check_shard(n, b, w, drop_last)


def check_shard(n, b, w, drop_last):
    shards = [SeedShard(n, b, rank=r, world_size=w, shuffle=True, drop_last=drop_last, seed=4)
              for r in range(w)]
    one = SeedShard(n, b * w, shuffle=True, drop_last=drop_last, seed=4)
    steps, m = divmod(n, b * w)
    expected = steps + (0 if drop_last or m < w else 1)  # m < w: those m seeds sit out
    assert {len(s) for s in shards} == {expected}
    for epoch in (0, 3):
        order = shards[0].order(epoch)
        assert all(torch.equal(s.order(epoch), order) for s in shards)  # one permutation
        assert torch.equal(one.order(epoch), order)
        for t in range(expected):
            parts = [s.positions(order, t) for s in shards]
            assert all(p.numel() for p in parts)
            assert max(p.numel() for p in parts) - min(p.numel() for p in parts) <= 1
            assert torch.equal(torch.cat(parts), one.positions(order, t))
        covered = torch.cat([torch.zeros(0, dtype=torch.long)]
                            + [s.positions(order, t) for t in range(expected) for s in shards])
        assert torch.equal(covered, order[: covered.numel()])  # each seed once, in order


def test_two_ranks_concatenated_equal_one_process_with_twice_the_batch_every_epoch():
    data = graph()
    mask = torch.arange(data.num_nodes) % 3 == 0  # 100 seeds: 3 full steps of 32, then 4

    def epochs(**kwargs):
        sampler = NeighborSampler(data, [3, 2], input_nodes=mask, shuffle=True, generator=11,
                                  **kwargs)
        out = []
        for epoch in (0, 1, 5):
            sampler.set_epoch(epoch)
            out.append(list(sampler))
        return out

    one = epochs(batch_size=32)
    ranks = [epochs(batch_size=16, rank=r, world_size=2) for r in range(2)]
    for e in range(3):
        assert len(one[e]) == len(ranks[0][e]) == len(ranks[1][e]) == 4
        for t in range(4):
            joined = torch.cat([seeds_of(ranks[0][e])[t], seeds_of(ranks[1][e])[t]])
            assert torch.equal(joined, seeds_of(one[e])[t])
            input_id = torch.cat([ranks[0][e][t].input_id, ranks[1][e][t].input_id])
            assert torch.equal(input_id, one[e][t].input_id)
        assert [b.batch_size for b in ranks[1][e]] == [16, 16, 16, 2]
    assert not torch.equal(seeds_of(one[0])[0], seeds_of(one[1])[0])  # epochs reshuffle


def test_the_few_seeds_of_a_last_step_smaller_than_the_world_sit_the_epoch_out():
    data = graph()
    nodes = torch.arange(97)  # 4 steps of 3 x 8 = 96, then 1 seed for 3 ranks
    ranks = [NeighborSampler(data, [2], input_nodes=nodes, batch_size=8, shuffle=True,
                             rank=r, world_size=3) for r in range(3)]
    one = list(NeighborSampler(data, [2], input_nodes=nodes, batch_size=24, shuffle=True))
    epochs = [list(s) for s in ranks]  # epoch 0 of each rank
    assert [len(s) for s in ranks] == [len(e) for e in epochs] == [4, 4, 4]
    covered = torch.cat([torch.cat(seeds_of(e)) for e in epochs])
    assert torch.equal(torch.cat([covered, one[-1].n_id[:1]]).sort().values, nodes)


def test_epochs_advance_by_themselves_and_set_epoch_repeats_one():
    sampler = NeighborSampler(graph(), [3], batch_size=100, shuffle=True, generator=2)
    first, second = list(sampler), list(sampler)  # epochs 0 and 1
    assert sampler.epoch == 2
    assert not torch.equal(first[0].n_id[:100], second[0].n_id[:100])
    sampler.set_epoch(0)
    assert same_batches(list(sampler), first)
    it = iter(sampler)  # the epoch is taken when the iteration starts
    sampler.set_epoch(7)
    assert same_batches(list(it), second)
    unshuffled = NeighborSampler(graph(), [3], batch_size=100)
    a, b = list(unshuffled), list(unshuffled)
    assert all(torch.equal(x.n_id[:100], y.n_id[:100]) for x, y in zip(a, b))
    assert not all(torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, b))  # new draws


def test_workers_build_the_same_batches_in_the_same_order():
    data = graph()
    kwargs = {"batch_size": 24, "shuffle": True, "generator": 5, "rank": 1, "world_size": 2}
    inline = NeighborSampler(data, [4, 3], **kwargs)
    workers = NeighborSampler(data, [4, 3], num_workers=2, **kwargs)
    persistent = NeighborSampler(data, [4, 3], num_workers=2, persistent_workers=True, **kwargs)
    for _ in range(2):  # epochs 0 and 1: the persistent workers serve both
        expected = list(inline)
        assert same_batches(list(workers), expected)
        assert same_batches(list(persistent), expected)
    assert persistent._loader is not None and persistent._loader._iterator is not None
    assert same_batches(list(workers), list(inline))  # epoch 2, started again


SCRIPT = """
import hashlib, torch
from fgsam.data import GraphShape, synthetic_graph
from fgsam.data.neighbor_sampler import NeighborSampler
torch.manual_seed(12345)  # another global seed than the test's: it must not matter
data = synthetic_graph(GraphShape(300, 3000, 6, 4), seed=3)
sampler = NeighborSampler(data, [4, 3], batch_size=40, shuffle=True, generator=9,
                          rank=1, world_size=2)
sampler.set_epoch(3)
digest = hashlib.sha256()
for batch in sampler:
    for t in (batch.n_id, batch.e_id, batch.edge_index):
        digest.update(t.numpy().tobytes())
print(digest.hexdigest())
"""


def test_another_process_draws_the_same_batches():
    import hashlib
    import subprocess
    import sys

    torch.manual_seed(54321)
    data = synthetic_graph(GraphShape(300, 3000, 6, 4), seed=3)
    sampler = NeighborSampler(data, [4, 3], batch_size=40, shuffle=True, generator=9,
                              rank=1, world_size=2)
    sampler.set_epoch(3)
    digest = hashlib.sha256()
    for batch in sampler:
        for t in (batch.n_id, batch.e_id, batch.edge_index):
            digest.update(t.numpy().tobytes())
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split()[-1] == digest.hexdigest()


def test_a_torch_generator_is_used_and_advanced_as_is():
    data = graph()
    generator = torch.Generator().manual_seed(3)
    sampler = NeighborSampler(data, [3], batch_size=64, shuffle=True, generator=generator)
    state = generator.get_state()
    first = list(sampler)
    assert not torch.equal(generator.get_state(), state)
    again = NeighborSampler(data, [3], batch_size=64, shuffle=True,
                            generator=torch.Generator().manual_seed(3))
    assert same_batches(list(again), first)
    assert "generator=torch.Generator" in repr(sampler)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rank": 2, "world_size": 2}, r"rank=2 is not a rank of world_size=2: use an int in 0\.\.1"),
    ({"rank": -1}, r"rank=-1 is not a rank of world_size=1"),
    ({"world_size": 0}, r"world_size must be an int >= 1 \(the number of processes\), got 0"),
    ({"input_nodes": torch.tensor([4, 7, 9]), "world_size": 4},
     "world_size=4 is larger than the 3 seed nodes of input_nodes: every process needs at "
     "least one seed node; use at most 3 processes"),
    ({"input_nodes": torch.zeros(300, dtype=torch.bool)}, "input_nodes has no seed nodes"),
    ({"num_workers": -1}, "num_workers must be an int >= 0, got -1"),
    ({"persistent_workers": True}, "persistent_workers=True needs num_workers > 0"),
    ({"generator": torch.Generator(), "num_workers": 2},
     "num_workers=2 cannot use a torch.Generator.*pass an int seed"),
    ({"generator": torch.Generator(), "world_size": 2},
     "world_size=2 cannot use a torch.Generator.*the same on every rank"),
])
def test_bad_shard_and_worker_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeighborSampler(graph(), [3], **kwargs)


def test_bad_epochs_are_named():
    with pytest.raises(ValueError, match="epoch must be an int >= 0, got -1"):
        NeighborSampler(graph(), [3]).set_epoch(-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_workers_need_the_graph_on_the_cpu():
    with pytest.raises(ValueError, match="num_workers=2 needs the graph on the CPU"):
        NeighborSampler(graph(device="cuda"), [3], num_workers=2)
