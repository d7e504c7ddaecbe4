"""The self-loop forms of PyG layers equal the layers' own forward over the self-loop graph."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GCN, GCNConv, GINConv, GraphConv, GraphSAGE, SAGEConv

from fgsam.nn import LinearFirstSAGEConv, peer_forward, self_loop_edge_index
from fgsam.nn.peer_layers import SELF_LOOP_FORMS, has_self_loop_form, self_loop_forms

N, F_IN = 9, 5


def layers():
    """(id, layer): the forms' classes in their configurations."""
    mlp = torch.nn.Sequential(torch.nn.Linear(F_IN, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    return [
        ("gcn", GCNConv(F_IN, 3)),
        ("gcn-no-bias", GCNConv(F_IN, 3, bias=False)),
        ("gcn-unnormalised", GCNConv(F_IN, 3, normalize=False)),
        ("gcn-improved-no-loops", GCNConv(F_IN, 3, improved=True, add_self_loops=False)),
        ("sage", SAGEConv(F_IN, 3)),
        ("sage-max", SAGEConv(F_IN, 3, aggr="max")),
        ("sage-sum-project-normalize", SAGEConv(F_IN, 3, aggr="sum", project=True,
                                                normalize=True)),
        ("sage-no-root", SAGEConv(F_IN, 3, root_weight=False, bias=False)),
        ("gin", GINConv(mlp)),
        ("gin-train-eps", GINConv(torch.nn.Linear(F_IN, 3), eps=0.25, train_eps=True)),
        ("graphconv", GraphConv(F_IN, 3)),
        ("graphconv-mean", GraphConv(F_IN, 3, aggr="mean")),
    ]


@pytest.mark.parametrize("case", range(12), ids=[name for name, _ in layers()])
def test_form_equals_the_layers_forward_with_its_gradients(case):
    torch.manual_seed(case)
    _, layer = layers()[case]
    layer = layer.double()
    assert has_self_loop_form(layer)
    x = torch.randn(N, F_IN, dtype=torch.float64, requires_grad=True)
    loops = self_loop_edge_index(N)
    reference = layer(x, loops)
    ref_grads = torch.autograd.grad(reference.square().sum(), [x, *layer.parameters()])
    with self_loop_forms([layer]):
        out = layer(x, loops)
    grads = torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(out, reference, rtol=1e-13, atol=1e-13)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    assert "forward" not in vars(layer)  # the class's forward is back


def test_float32_models_give_the_same_bits_as_the_self_loop_graph():
    torch.manual_seed(0)
    x = torch.randn(40, F_IN)
    index = torch.tensor([3, 17, 5, 5, 38])
    for model in (GCN(F_IN, 8, 2, 4, cached=True), GraphSAGE(F_IN, 8, 3, 4)):
        model.eval()
        general = model(x[index], self_loop_edge_index(5))
        assert torch.equal(peer_forward(model, x, index), general)


def test_layers_without_an_exact_form_keep_their_forward():
    from torch_geometric.nn import GATConv
    from torch_geometric.nn.aggr import MultiAggregation

    assert not has_self_loop_form(GATConv(F_IN, 3))
    assert not has_self_loop_form(SAGEConv(F_IN, 3, aggr="lstm"))
    assert not has_self_loop_form(SAGEConv(F_IN, 3, aggr=MultiAggregation(["mean", "max"])))
    hooked = GCNConv(F_IN, 3)
    hooked.register_propagate_forward_hook(lambda *args: None)
    assert not has_self_loop_form(hooked)

    class MyConv(GCNConv):  # a subclass may change forward: not taken
        pass

    assert not has_self_loop_form(MyConv(F_IN, 3)) and set(SELF_LOOP_FORMS) == {
        GCNConv, SAGEConv, LinearFirstSAGEConv, GINConv, GraphConv}


def test_edge_weights_fall_back_to_the_layers_forward():
    torch.manual_seed(0)
    conv = GCNConv(F_IN, 3).double()
    x = torch.randn(N, F_IN, dtype=torch.float64)
    loops, weight = self_loop_edge_index(N), torch.full((N,), 3.0, dtype=torch.float64)
    with self_loop_forms([conv]):
        out = conv(x, loops, weight)
    torch.testing.assert_close(out, GCNConv.forward(conv, x, loops, weight))


def test_the_class_forward_is_restored_when_the_call_raises():
    conv = GCNConv(F_IN, 3)
    with pytest.raises(RuntimeError), self_loop_forms([conv]):
        conv(torch.randn(N, F_IN + 1), self_loop_edge_index(N))
    assert "forward" not in vars(conv)
