from __future__ import annotations

import torch

from fgsam.fewshot.method import squared_distances
from fgsam.fewshot.protonet import ProtoNet


def test_evaluation_reuses_the_graph_pass_until_the_weights_change(toy, episode_factory):
    model = ProtoNet(toy.num_features).eval()
    with torch.no_grad():
        first = model.on_graph(model.encoder, toy)
        assert model.on_graph(model.encoder, toy) is first
        logits = model(toy, episode_factory(toy, [0, 1], k=2, q=2))
        model.encoder.convs[0].bias.add_(1.0)  # an in-place update, as an optimizer step does
        second = model.on_graph(model.encoder, toy)
        assert second is not first and not torch.equal(second, first)
        model.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
        assert model.on_graph(model.encoder, toy) is not second
        other = toy.clone()
        assert model.on_graph(model.encoder, other) is not model.on_graph(model.encoder, toy)
    # training or autograd: always a fresh pass with a graph
    out = model.on_graph(model.encoder, toy)
    assert out.requires_grad
    assert logits.shape == (4, 2)


def test_squared_distances_by_hand():
    q = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    p = torch.tensor([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 4.0, 5.0], [2.0, 13.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(squared_distances(q, p), expected, rtol=0, atol=0)
