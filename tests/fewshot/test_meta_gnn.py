from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fgsam.fewshot.meta_gnn import MetaGNN

NAMES = ["encoder.convs.0.lin.weight", "encoder.convs.0.bias", "encoder.convs.1.lin.weight",
         "encoder.convs.1.bias", "classifier.weight", "classifier.bias"]


def dense_gcn(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


def hand_logits(theta: list[torch.Tensor], a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2, wc, bc = theta
    h = torch.relu(a @ x @ w1.T + b1)
    h = torch.relu(a @ h @ w2.T + b2)
    return h @ wc.T + bc


def hand_maml(model, data, episode, steps, lr, first_order, a):
    """MAML written out: SGD on the support loss, then the query logits."""
    theta0 = [dict(model.named_parameters())[n].detach().clone().requires_grad_() for n in NAMES]
    theta = theta0
    for _ in range(steps):
        loss = F.cross_entropy(hand_logits(theta, a, data.x)[episode.support], episode.support_y)
        grads = torch.autograd.grad(loss, theta, create_graph=not first_order)
        theta = [t - lr * (g.detach() if first_order else g) for t, g in zip(theta, grads)]
    return theta0, hand_logits(theta, a, data.x)[episode.query]


def assert_matches_hand(model, data, episode, expected, theta0):
    """The model's query logits and outer gradient equal the hand-written ones."""
    logits = model(data, episode)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-12)
    F.cross_entropy(logits, episode.query_y).backward()
    hand_grads = torch.autograd.grad(F.cross_entropy(expected, episode.query_y), theta0)
    params = dict(model.named_parameters())
    for name, g in zip(NAMES, hand_grads):
        torch.testing.assert_close(params[name].grad, g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("first_order", [False, True])
def test_inner_loop_and_outer_gradient_match_hand_written_sgd(graph_factory, episode_factory,
                                                              first_order):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [2, 5, 6], k=2, q=4)
    model = MetaGNN(data.num_features, n_way=3, hidden_channels=5, dropout=0.0, inner_steps=2,
                    inner_lr=0.3, first_order=first_order).double()
    model.reset_parameters(4)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(p.numel()))
    a = dense_gcn(data.edge_index, data.num_nodes)
    theta0, expected = hand_maml(model, data, episode, 2, 0.3, first_order, a)
    assert_matches_hand(model, data, episode, expected, theta0)


def test_first_and_second_order_gradients_differ(graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [0, 1], k=3, q=3)
    grads = []
    for first_order in (False, True):
        model = MetaGNN(data.num_features, 2, inner_steps=3, first_order=first_order).double()
        model.reset_parameters(0)
        model.eval()
        model.loss(data, episode).backward()
        grads.append(model.encoder.convs[0].lin.weight.grad)
    assert not torch.allclose(grads[0], grads[1])


def test_evaluation_without_grad_gives_the_same_logits(graph_factory, episode_factory):
    data = graph_factory()
    episode = episode_factory(data, [3, 4], k=2, q=5)
    model = MetaGNN(data.num_features, 2, inner_steps=4).eval()
    with_grad = model(data, episode)
    with torch.no_grad():
        without = model(data, episode)
    assert not without.requires_grad
    torch.testing.assert_close(without, with_grad.detach(), rtol=1e-6, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_peer_view_touches_only_episode_rows(graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [1, 6], k=2, q=3)
    model = MetaGNN(data.num_features, 2, inner_steps=2).double().eval()
    peer = model(data, episode, peer=True)
    others = torch.ones(data.num_nodes, dtype=torch.bool)
    others[episode.nodes] = False
    changed = data.clone()
    changed.x = data.x.clone()
    changed.x[others] *= 3.0
    torch.testing.assert_close(model(changed, episode, peer=True), peer, rtol=0, atol=0)
    assert not torch.allclose(model(changed, episode), model(data, episode))


@pytest.mark.parametrize("first_order", [False, True])
def test_clamped_inner_loop_matches_hand_written_clamped_sgd(graph_factory, episode_factory,
                                                             first_order):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [1, 3], k=2, q=3)
    delta, lr = 0.02, 0.5
    model = MetaGNN(data.num_features, n_way=2, hidden_channels=4, dropout=0.0, inner_steps=3,
                    inner_lr=lr, first_order=first_order, inner_clamp=delta).double()
    model.reset_parameters(7)
    a = dense_gcn(data.edge_index, data.num_nodes)
    theta0 = [dict(model.named_parameters())[n].detach().clone().requires_grad_() for n in NAMES]
    theta, moved = theta0, False
    for _ in range(3):  # SGD, then each weight back into [theta0 - delta, theta0 + delta]
        loss = F.cross_entropy(hand_logits(theta, a, data.x)[episode.support], episode.support_y)
        grads = torch.autograd.grad(loss, theta, create_graph=not first_order)
        stepped = [t - lr * (g.detach() if first_order else g) for t, g in zip(theta, grads)]
        moved |= any(bool(((s - t0).abs() > delta).any()) for s, t0 in zip(stepped, theta0))
        theta = [torch.minimum(torch.maximum(s, t0 - delta), t0 + delta)
                 for s, t0 in zip(stepped, theta0)]
    assert moved  # the clamp is active in this example
    expected = hand_logits(theta, a, data.x)[episode.query]
    assert_matches_hand(model, data, episode, expected, theta0)
    adapted, params = model.adapt(data, episode), dict(model.named_parameters())
    for name in NAMES:
        assert (adapted[name] - params[name]).abs().max() <= delta + 1e-15
    assert "inner_clamp=0.02" in repr(model)


def test_adaptation_improves_the_support_fit(graph_factory, episode_factory):
    data = graph_factory()
    episode = episode_factory(data, [0, 4], k=3, q=5)
    model = MetaGNN(data.num_features, 2, inner_steps=0).eval()
    before = F.cross_entropy(model.logits(dict(model.named_parameters()), data, episode.support,
                                          False), episode.support_y)
    model.inner_steps = 10
    params = model.adapt(data, episode)
    after = F.cross_entropy(model.logits(params, data, episode.support, False), episode.support_y)
    assert after.item() < before.item()


def test_bad_arguments_are_refused(graph_factory, episode_factory):
    with pytest.raises(ValueError, match="inner_steps"):
        MetaGNN(4, 2, inner_steps=-1)
    with pytest.raises(ValueError, match="n_way"):
        MetaGNN(4, 1)
    with pytest.raises(ValueError, match="inner_clamp must be None or a finite number >= 0, "
                                         "got -0.1"):
        MetaGNN(4, 2, inner_clamp=-0.1)
    data = graph_factory()
    model = MetaGNN(data.num_features, 3)
    with pytest.raises(ValueError, match="n_way=3"):
        model(data, episode_factory(data, [0, 1], k=1, q=1))


def test_peer_inner_false_adapts_through_the_gnn_and_queries_through_the_peer_mlp(
        graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [2, 5, 6], k=2, q=4)
    model = MetaGNN(data.num_features, n_way=3, hidden_channels=5, dropout=0.0, inner_steps=2,
                    inner_lr=0.3, peer_inner=False).double()
    model.reset_parameters(4)
    a = dense_gcn(data.edge_index, data.num_nodes)
    theta0 = [dict(model.named_parameters())[n].detach().clone().requires_grad_() for n in NAMES]
    theta = theta0
    for _ in range(2):  # the inner loop on the graph, as without the peer view
        loss = F.cross_entropy(hand_logits(theta, a, data.x)[episode.support], episode.support_y)
        grads = torch.autograd.grad(loss, theta, create_graph=True)
        theta = [t - 0.3 * g for t, g in zip(theta, grads)]
    eye = torch.eye(data.num_nodes, dtype=torch.float64)  # the query pass: no neighbours
    expected = hand_logits(theta, eye, data.x)[episode.query]
    torch.testing.assert_close(model(data, episode, peer=True), expected, rtol=1e-10, atol=1e-12)
    assert "peer_inner=False" in repr(model)
    with pytest.raises(ValueError, match="peer_inner must be True or False, got 1"):
        MetaGNN(data.num_features, n_way=3, peer_inner=1)
