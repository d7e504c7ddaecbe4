from __future__ import annotations

import math

import torch

from fgsam.fewshot.episode import Episode
from fgsam.fewshot.gpn import GPN


def dense_gcn(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


def task() -> Episode:
    # node 0 is isolated in the toy graph: its degree is clamped to 1 (weight sigmoid(0) = 1/2)
    return Episode(torch.tensor([0, 3]), torch.tensor([0, 5, 9, 60, 66, 71]),
                   torch.tensor([11, 12, 13, 14, 70, 72, 74, 77]),
                   torch.tensor([0, 0, 0, 1, 1, 1]), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]))


def test_prototypes_weighted_by_degree_scaled_scores_by_hand(graph_factory):
    data = graph_factory(dtype=torch.float64)
    episode = task()
    model = GPN(data.num_features, hidden_channels=4).double().eval()
    model.reset_parameters(3)
    with torch.no_grad():  # non-zero biases, so that every term of the formula matters
        for p in model.parameters():
            if p.dim() == 1:
                p.copy_(torch.linspace(-0.3, 0.4, p.numel(), dtype=torch.float64))
    model.requires_grad_(False)
    a = dense_gcn(data.edge_index, data.num_nodes)
    x = data.x  # rows near unit scale (median norm 3.5): read as given
    (w1, b1), (w2, b2) = [(c.lin.weight, c.bias) for c in model.encoder.convs]
    z = a @ torch.relu(a @ x @ w1.T + b1) @ w2.T + b2
    (v1, c1), (v2, c2) = [(c.lin.weight, c.bias) for c in model.valuator.gnn.convs]
    h = torch.relu(a @ torch.relu(a @ x @ v1.T + c1) @ v2.T + c2)
    score = h @ model.valuator.score.weight[0] + model.valuator.score.bias[0]
    deg = torch.zeros(data.num_nodes, dtype=torch.float64)
    deg.index_add_(0, data.edge_index[1], torch.ones(data.edge_index.size(1), dtype=torch.float64))
    assert deg[0] == 0
    protos = []
    for n in range(2):
        s = episode.support[3 * n:3 * n + 3]
        w = torch.tensor([1 / (1 + math.exp(-math.log(max(deg[i].item(), 1.0)) * score[i].item()))
                          for i in s], dtype=torch.float64)
        w = w / w.sum()
        protos.append((w[:, None] * z[s]).sum(0))
    expected = -torch.cdist(z[episode.query], torch.stack(protos)) ** 2
    logits = model(data, episode)
    assert logits.shape == (8, 2)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)


def test_peer_view_touches_only_episode_rows_and_keeps_degrees(graph_factory):
    data = graph_factory(dtype=torch.float64)
    episode = task()
    model = GPN(data.num_features).double().eval()
    peer = model(data, episode, peer=True)
    changed = data.clone()
    others = torch.ones(data.num_nodes, dtype=torch.bool)
    others[episode.nodes] = False
    changed.x = data.x.clone()
    changed.x[others] = -changed.x[others]
    torch.testing.assert_close(model(changed, episode, peer=True), peer, rtol=0, atol=0)
    assert not torch.allclose(model(changed, episode), model(data, episode))
    # the degree scaling is a node attribute the PeerMLP view keeps
    rewired = data.clone()
    rewired.edge_index = data.edge_index[:, data.edge_index[0] != 5]
    rewired.edge_index = rewired.edge_index[:, rewired.edge_index[1] != 5]
    assert not torch.allclose(model(rewired, episode, peer=True), peer)


def test_graph_tensors_are_computed_once_per_graph(graph_factory):
    data = graph_factory()
    model = GPN(data.num_features)
    first = model.graph(data)
    model(data, task())
    assert model.graph(data) is first
    other = graph_factory(seed=1)
    assert model.graph(other) is not first


def test_reset_parameters_is_reproducible(graph_factory):
    data = graph_factory()
    a, b = GPN(data.num_features), GPN(data.num_features)
    a.reset_parameters(5)
    b.reset_parameters(5)
    a.train()
    b.train()
    torch.testing.assert_close(a.loss(data, task()), b.loss(data, task()), rtol=0, atol=0)


def test_huge_features_give_finite_weights_and_loss(graph_factory):
    data = graph_factory()
    data.x = data.x.abs() * 1e4  # raw TF-IDF scale: every valuator sigmoid underflows
    model = GPN(data.num_features)
    model.reset_parameters(0)
    loss = model.loss(data, task())
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_the_euclidean_logit_is_the_root_of_the_squared_one(graph_factory):
    import pytest

    data = graph_factory(dtype=torch.float64)
    squared = GPN(data.num_features, hidden_channels=4).double().eval()
    euclid = GPN(data.num_features, hidden_channels=4, distance="euclidean").double().eval()
    squared.reset_parameters(3)
    euclid.reset_parameters(3)
    a, b = squared(data, task()), euclid(data, task())
    torch.testing.assert_close(b, -(-a).sqrt())
    with pytest.raises(ValueError, match="distance must be one of squared, euclidean, got 'l1'"):
        GPN(4, distance="l1")


def test_on_raw_wiki_features_the_squared_logit_kills_the_encoder_unless_rescaled(data_root):
    from fgsam.data import load_graph
    from fgsam.fewshot import EpisodicTrainer
    from fgsam.fewshot.step import episode_step

    data, split = load_graph("wiki", data_root)  # raw TF-IDF rows, as --features none keeps them
    builds = {"squared as given": dict(feature_scale="none"),
              "euclidean as given": dict(distance="euclidean", feature_scale="none"),
              "default": {}, "authors": dict(authors_code=True)}
    dead = {}
    for name, options in builds.items():
        trainer = EpisodicTrainer(lambda o=options: GPN(data.num_features, **o), data,
                                  split, n_way=5, k_shot=3, q_query=8, episodes=40, repeats=1)
        model = trainer.new_method(trainer.seeds(0)["model"])
        opt, tasks = trainer.new_optimizer(model, 0), trainer.sampler("train", 0)
        for _ in range(40):
            model.train()
            episode_step(model, opt, data, tasks.sample())
        g = model.graph(data)
        with torch.no_grad():
            h = model.encoder.convs[0](g.x, g.edge_index, g.edge_weight)
        dead[name] = float((h <= 0).float().mean())
    assert dead["squared as given"] > 0.99, dead
    assert max(dead["euclidean as given"], dead["default"], dead["authors"]) < 0.9, dead


def test_the_authors_variant_by_hand(graph_factory):
    data = graph_factory(dtype=torch.float64)
    episode = task()
    model = GPN(data.num_features, hidden_channels=4, authors_code=True).double().eval()
    model.reset_parameters(3)
    model.requires_grad_(False)
    assert model.distance == "euclidean" and model.normalization == "row"
    n = data.num_nodes
    a = torch.eye(n, dtype=torch.float64)
    a[data.edge_index[1], data.edge_index[0]] = 1.0
    a = a / a.sum(1, keepdim=True)  # D^-1 (A + I): each row averages a node and its neighbours
    x = data.x
    (w1, b1), (w2, b2) = [(c.lin.weight, c.bias) for c in model.encoder.convs]
    z = a @ torch.relu(a @ x @ w1.T + b1) @ w2.T + b2
    (v1, c1), (v2, c2) = [(c.lin.weight, c.bias) for c in model.valuator.gnn.convs]
    h = torch.relu(a @ torch.relu(a @ x @ v1.T + c1) @ v2.T + c2)
    score = h @ model.valuator.score.weight[0] + model.valuator.score.bias[0]
    deg = torch.zeros(n, dtype=torch.float64)
    deg.index_add_(0, data.edge_index[1], torch.ones(data.edge_index.size(1), dtype=torch.float64))
    protos = []
    for c in range(2):
        s = episode.support[3 * c:3 * c + 3]
        sig = torch.sigmoid(torch.log(deg[s].clamp(min=1.0)) * score[s])
        w = sig.exp() / sig.exp().sum()  # a softmax over the sigmoids, then the mean
        protos.append((w[:, None] * z[s]).mean(0))
    expected = -torch.cdist(z[episode.query], torch.stack(protos))
    torch.testing.assert_close(model(data, episode), expected, rtol=1e-10, atol=1e-10)


def test_the_authors_initialisation_is_their_uniform_one_and_reproducible(graph_factory):
    data = graph_factory()
    a = GPN(data.num_features, authors_code=True)
    b = GPN(data.num_features, authors_code=True)
    a.reset_parameters(7)
    b.reset_parameters(7)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    for conv in [*a.encoder.convs, *a.valuator.gnn.convs]:
        bound = conv.out_channels ** -0.5
        for p in (conv.lin.weight, conv.bias):
            assert p.abs().max() <= bound and p.abs().max() > 0.8 * bound  # biases drawn too
    score = a.valuator.score
    assert score.weight.abs().max() <= score.in_features ** -0.5
    glorot = GPN(data.num_features)
    glorot.reset_parameters(7)
    assert all(bool((c.bias == 0).all()) for c in glorot.encoder.convs)


def test_each_choice_of_the_authors_variant_is_its_own_argument():
    import pytest

    from fgsam.fewshot.gpn import OPTIONS

    mixed = GPN(8, init="uniform", distance="squared", authors_code=True)
    assert (mixed.distance, mixed.normalization, mixed.weights, mixed.init) == \
        ("squared", "row", "softmax", "uniform")
    plain = GPN(8, normalization="row")
    assert (plain.distance, plain.normalization, plain.weights, plain.init) == \
        ("squared", "row", "sigmoid", "glorot")
    assert "normalization='row'" in repr(plain)
    for name, (default, theirs) in OPTIONS.items():
        assert getattr(GPN(8), name) == default and getattr(GPN(8, authors_code=True), name) \
            == theirs
    with pytest.raises(ValueError, match="weights must be one of sigmoid, softmax, got 'mean'"):
        GPN(8, weights="mean")


def test_the_default_reads_large_features_at_unit_scale(graph_factory):
    from fgsam.fewshot.method import RESCALED_ABOVE, feature_scale

    data = graph_factory(dtype=torch.float64)
    model = GPN(data.num_features, hidden_channels=4).double().eval()
    model.reset_parameters(3)
    assert feature_scale(data.x) == 0 and model.graph(data).x is data.x  # near unit scale
    big, bigger = data.clone(), data.clone()
    big.x, bigger.x = data.x * 2.0 ** 9, data.x * 2.0 ** 14
    median = float(data.x.norm(dim=1).median())
    assert median * 2 ** 9 > RESCALED_ABOVE
    assert feature_scale(big.x) == round(math.log2(median * 2 ** 9))
    torch.testing.assert_close(model.graph(big).x, data.x / 4, rtol=0, atol=0)  # 2^9 / 2^11
    for peer in (False, True):  # any power-of-two scale beyond the threshold: the same model
        assert torch.equal(model(bigger, task(), peer=peer), model(big, task(), peer=peer))
    assert feature_scale(torch.zeros(3, 2)) == 0
    kept = GPN(data.num_features, hidden_channels=4, feature_scale="none").double().eval()
    kept.load_state_dict(model.state_dict())
    assert kept.graph(big).x is big.x
    assert not torch.allclose(kept(big, task()), model(big, task()))
    big.x.neg_()  # features changed in place: the cached rescaled copy is rebuilt
    assert torch.equal(model.graph(big).x, -data.x / 4)
