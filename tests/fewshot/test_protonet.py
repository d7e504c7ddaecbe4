from __future__ import annotations

import torch

from fgsam.fewshot.protonet import ProtoNet


def test_logits_are_negative_squared_distances_to_class_means(graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [1, 4, 2], k=3, q=5)
    model = ProtoNet(data.num_features, hidden_channels=4).double().eval()
    model.reset_parameters(0)
    logits = model(data, episode)
    assert logits.shape == (15, 3)
    z = model.encoder(data.x, data.edge_index)
    expected = torch.empty(15, 3, dtype=torch.float64)
    for n in range(3):
        proto = z[episode.support[3 * n:3 * n + 3]].mean(0)
        expected[:, n] = -((z[episode.query] - proto) ** 2).sum(1)
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)


def test_peer_view_touches_only_episode_rows(graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [0, 5], k=2, q=4)
    model = ProtoNet(data.num_features).double().eval()
    peer, gnn = model(data, episode, peer=True), model(data, episode)
    others = torch.ones(data.num_nodes, dtype=torch.bool)
    others[episode.nodes] = False
    changed = data.clone()
    changed.x = data.x.clone()
    changed.x[others] += 5.0
    torch.testing.assert_close(model(changed, episode, peer=True), peer, rtol=0, atol=0)
    assert not torch.allclose(model(changed, episode), gnn)  # the GNN view does see them


def test_peer_view_is_prototypes_of_the_mlp(graph_factory, episode_factory):
    data = graph_factory(dtype=torch.float64)
    episode = episode_factory(data, [3, 6], k=2, q=3)
    model = ProtoNet(data.num_features, hidden_channels=4).double().eval()
    (w1, b1), (w2, b2) = [(c.lin.weight, c.bias) for c in model.encoder.convs]
    z = torch.relu(data.x @ w1.T + b1) @ w2.T + b2
    protos = torch.stack([z[episode.support[:2]].mean(0), z[episode.support[2:]].mean(0)])
    expected = -torch.cdist(z[episode.query], protos) ** 2
    torch.testing.assert_close(model(data, episode, peer=True), expected, rtol=1e-10, atol=1e-10)


def test_loss_falls_when_trained_on_one_task(graph_factory, episode_factory):
    data = graph_factory()
    episode = episode_factory(data, [0, 1, 2], k=3, q=5)
    model = ProtoNet(data.num_features)
    model.reset_parameters(1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = model.loss(data, episode).item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(data, episode).backward()
        opt.step()
    assert model.loss(data, episode).item() < 0.5 * first
