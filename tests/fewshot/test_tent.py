from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from fgsam.fewshot.episode import Episode
from fgsam.fewshot.tent import TENT


def ring() -> Data:
    """60 nodes on a ring, classes in blocks of 10: graph distances are easy to read."""
    n = 60
    src = torch.arange(n)
    edge_index = to_undirected(torch.stack([src, (src + 1) % n]), num_nodes=n)
    x = torch.randn(n, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return Data(x=x, edge_index=edge_index, y=torch.arange(n) // 10)


def ring_task() -> Episode:
    return Episode(torch.tensor([0, 3]), torch.tensor([2, 4, 32, 34]),
                   torch.tensor([6, 7, 36, 37]), torch.tensor([0, 0, 1, 1]),
                   torch.tensor([0, 0, 1, 1]))


def model_for(data: Data, **kw) -> TENT:
    model = TENT(data.num_features, num_classes=6, hidden_channels=4, **kw).double().eval()
    model.reset_parameters(2)
    with torch.no_grad():  # small non-zero biases and FiLM outputs of moderate size
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(p.numel()))
        model.film.weight.mul_(0.3)
    return model


def test_peer_logits_and_loss_by_hand():
    data, episode = ring(), ring_task()
    model = model_for(data, temperature=0.7, supervised_weight=0.5)
    model.requires_grad_(False)
    conv = model.embedding.convs[0]
    e = data.x[episode.nodes] @ conv.lin.weight.T + conv.bias
    e_s, e_q = e[:4].view(2, 2, -1), e[4:]
    c = e_s.mean(1)
    film = model.film.weight @ c.mean(0) + model.film.bias
    size = sum(p.numel() for p in model.gnn.parameters())
    alpha, beta = film[:size], film[size:]
    adapted, start = {}, 0
    for name, p in model.gnn.named_parameters():
        a = alpha[start:start + p.numel()].view_as(p)
        b = beta[start:start + p.numel()].view_as(p)
        adapted[name] = p * (1 + a) + b
        start += p.numel()

    def h(v):
        v = torch.relu(v @ adapted["convs.0.lin.weight"].T + adapted["convs.0.bias"])
        return v @ adapted["convs.1.lin.weight"].T + adapted["convs.1.bias"]

    r_c, r_q = h(c), h(e_q)
    spread = torch.stack([sum(torch.linalg.norm(e_s[n, k] - c[n]) for k in range(2))
                          for n in range(2)])
    rel = (spread + 1e-8) / (spread.mean() + 1e-8)
    cos = torch.stack([torch.stack([torch.dot(r_q[i], r_c[n]) / (r_q[i].norm() * r_c[n].norm())
                                    for n in range(2)]) for i in range(4)])
    expected = cos / (0.7 * rel)
    torch.testing.assert_close(model(data, episode, peer=True), expected, rtol=1e-10, atol=1e-12)
    labels = torch.tensor([0, 0, 3, 3, 0, 0, 3, 3])
    sup = F.cross_entropy(e @ model.classifier.weight.T + model.classifier.bias, labels)
    loss = F.cross_entropy(expected, episode.query_y) + 0.5 * sup
    torch.testing.assert_close(model.loss(data, episode, peer=True), loss, rtol=1e-10,
                               atol=1e-12)


def test_zero_film_leaves_the_gnn_weights():
    data = ring()
    model = model_for(data)
    with torch.no_grad():
        model.film.weight.zero_()
        model.film.bias.zero_()
    adapted = model.adapted_gnn(torch.randn(4, dtype=torch.float64))
    for name, p in model.gnn.named_parameters():
        torch.testing.assert_close(adapted[name], p, rtol=0, atol=0)


def test_gnn_view_sees_the_ego_subgraphs_and_nothing_beyond():
    data, episode = ring(), ring_task()
    model = model_for(data)
    base = model(data, episode)
    assert base.shape == (4, 2)
    far = data.clone()
    far.x = data.x.clone()
    far.x[20] += 10.0  # 14 hops from every episode node
    torch.testing.assert_close(model(far, episode), base, rtol=0, atol=0)
    near = data.clone()
    near.x = data.x.clone()
    near.x[1] += 10.0  # a neighbour of support node 2: inside its class-ego subgraph
    assert not torch.allclose(model(near, episode), base)
    assert torch.equal(model(near, episode, peer=True), model(data, episode, peer=True))


def test_trains_on_a_real_graph_shape(graph_factory, episode_factory):
    data = graph_factory()
    episode = episode_factory(data, [0, 1, 2], k=3, q=4)
    model = TENT(data.num_features, num_classes=7)
    model.reset_parameters(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = model.loss(data, episode).item()
    for _ in range(25):
        opt.zero_grad()
        model.loss(data, episode).backward()
        opt.step()
    assert model.loss(data, episode).item() < first
    model.eval()  # no dropout: both calls below see the same network
    per_query = model.loss(data, episode, reduction="none")
    assert per_query.shape == (12,)
    torch.testing.assert_close(per_query.mean(), model.loss(data, episode))


@pytest.mark.parametrize(("kw", "word"), [({"num_classes": 1}, "num_classes"),
                                          ({"temperature": 0.0}, "temperature"),
                                          ({"supervised_weight": -1.0}, "supervised_weight"),
                                          ({"ego_hops": -1}, "ego_hops")])
def test_bad_arguments_are_refused(kw, word):
    args = {"num_classes": 4} | kw
    with pytest.raises(ValueError, match=word):
        TENT(5, **args)
