"""The step-cost measurement shared by ``fgsam bench`` and benchmarks/step_cost.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN
from torch_geometric.utils import coalesce, is_undirected

from fgsam.bench.step_cost import Contender, bench_graph, make_steps, measure_step_cost
from fgsam.data import GraphShape
from fgsam.nn import peer_forward

SMALL = GraphShape(400, 3000, 12, 4)


def test_cora_full_task_trains_on_planetoids_standard_training_nodes(data_root, planetoid_root):
    data, train = bench_graph("cora", root=data_root)
    reference = Planetoid(str(planetoid_root), "Cora")[0]
    assert torch.equal(train.sort().values, reference.train_mask.nonzero().view(-1))
    assert torch.equal(coalesce(data.edge_index), coalesce(reference.edge_index))
    assert torch.equal(data.x, reference.x) and torch.equal(data.y, reference.y)


def test_a_synthetic_shape_is_undirected_and_trains_on_20_nodes_per_class():
    data, train = bench_graph(shape=SMALL)
    assert data.num_nodes == 400 and is_undirected(data.edge_index)
    assert train.numel() == 80 and torch.bincount(data.y[train]).tolist() == [20] * 4


def test_exactly_one_graph_source_is_required():
    with pytest.raises(ValueError, match="exactly one of dataset and shape"):
        bench_graph()
    with pytest.raises(ValueError, match="exactly one of dataset and shape"):
        bench_graph("cora", "corafull")


def _reference_model(data) -> GCN:
    torch.manual_seed(0)
    return GCN(data.num_features, 16, 2, int(data.y.max()) + 1, cached=True)


def test_full_task_steps_take_the_gnn_loss_and_peermlp_the_peer_loss_from_the_same_weights():
    data, train = bench_graph(shape=SMALL)
    steps = make_steps(data, train, [Contender("adam", "adam"),
                                     Contender("peermlp", "adam", peer_only=True)], "full")
    model = _reference_model(data)
    gnn = F.cross_entropy(model(data.x, data.edge_index)[train], data.y[train])
    peer = F.cross_entropy(peer_forward(model, data.x, train), data.y[train])
    torch.testing.assert_close(steps["adam"](), gnn.detach())
    torch.testing.assert_close(steps["peermlp"](), peer.detach())


def test_episode_steps_are_reproducible_and_leave_the_global_rng_alone():
    data, train = bench_graph(shape=SMALL)
    contenders = [Contender("a", "fgsam+", {"rho": 0.1, "k": 2}),
                  Contender("b", "fgsam+", {"rho": 0.1, "k": 2}),
                  Contender("sam", "sam", {"rho": 0.05})]
    state = torch.get_rng_state()
    steps = make_steps(data, train, contenders, "episode", n_way=3, k_shot=2, q_query=4)
    losses = {label: [float(step()) for _ in range(4)] for label, step in steps.items()}
    assert torch.equal(torch.get_rng_state(), state)
    assert losses["a"] == losses["b"]  # same weights, same episodes, same optimizer
    assert len(set(losses["a"])) == 4  # a new episode (and new weights) every step
    assert losses["sam"][0] == losses["a"][0]  # the same first episode at the same weights


def test_measure_reports_every_contender_with_ratios_to_the_first():
    data, train = bench_graph(shape=SMALL)
    steps = make_steps(data, train, [Contender("adam", "adam"),
                                     Contender("sam", "sam", {"rho": 0.05})], "full")
    costs = measure_step_cost(steps, rounds=3, steps_per_round=2, warmup=1, clock="cpu")
    assert list(costs) == ["adam", "sam"]
    assert costs["adam"].ratio == 1.0
    assert all(len(c.per_step_ms) == 3 and c.ms > 0 and math.isfinite(c.peak_mib)
               for c in costs.values())
    assert costs["sam"].ratio == pytest.approx(costs["sam"].ms / costs["adam"].ms)
    assert costs["sam"].to_dict()["optimizer"] == "sam" and "ratio=" in repr(costs["sam"])


def test_bad_task_and_duplicate_labels_are_refused():
    data, train = bench_graph(shape=SMALL)
    with pytest.raises(ValueError, match="task must be one of episode, full, got 'node'"):
        make_steps(data, train, [Contender("adam", "adam")], "node")
    with pytest.raises(ValueError, match="distinct labels"):
        make_steps(data, train, [Contender("adam", "adam"), Contender("adam", "sgd")])
