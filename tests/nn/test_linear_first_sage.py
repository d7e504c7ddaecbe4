"""LinearFirstSAGEConv / LinearFirstGraphSAGE: PyG's SAGEConv, transformed first where exact."""

import pytest
import torch
from torch_geometric.nn import SAGEConv
from torch_geometric.nn.models import GraphSAGE
from torch_geometric.utils import coalesce

from fgsam.nn import LinearFirstGraphSAGE, LinearFirstSAGEConv, peer_forward
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency
from fgsam.nn.peer_layers import has_self_loop_form


def _graph(n=40, f=24, e=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g)
    # node n - 1 gets no in-edges: its mean is 0 and its output lin_l's bias alone
    edge_index = coalesce(torch.randint(0, n - 1, (2, e), generator=g), num_nodes=n)
    return x, edge_index


def _both(conv, x, graph):
    """(forward, PyG's SAGEConv.forward) on the same inputs, and their gradients."""
    outs, grads = [], []
    for f in (conv.forward, lambda *a: SAGEConv.forward(conv, *a)):
        conv.zero_grad()
        out = f(x, graph)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in conv.parameters()])
    return outs, grads


@pytest.mark.parametrize("aggr", ["mean", "sum", "add"])
@pytest.mark.parametrize("kwargs", [{}, {"root_weight": False}, {"bias": False},
                                    {"normalize": True}])
@pytest.mark.parametrize("csr", [False, True])
def test_it_equals_sage_conv_forward_and_gradients(aggr, kwargs, csr):
    x, edge_index = _graph()
    torch.manual_seed(0)
    conv = LinearFirstSAGEConv(24, 5, aggr=aggr, **kwargs)
    assert conv.transforms_first(x)
    graph = csr_adjacency(edge_index, x.size(0)) if csr else edge_index
    (a, b), (ga, gb) = _both(conv, x, graph)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for p, q in zip(ga, gb, strict=True):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=1e-5)


def test_a_node_without_in_edges_gets_the_bias_plus_its_root_term():
    x, edge_index = _graph()
    conv = LinearFirstSAGEConv(24, 5)
    out = conv(x, edge_index)
    expected = conv.lin_l.bias + conv.lin_r(x[-1])
    torch.testing.assert_close(out[-1], expected)


def test_hand_formula_on_a_path():
    # 0 -> 2, 1 -> 2: node 2 averages W x_0 and W x_1, then adds b and W_r x_2
    conv = LinearFirstSAGEConv(3, 2)
    x = torch.tensor([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = conv(x, torch.tensor([[0, 1], [2, 2]]))
    w, b, w_r = conv.lin_l.weight, conv.lin_l.bias, conv.lin_r.weight
    expected = w @ ((x[0] + x[1]) / 2) + b + w_r @ x[2]
    torch.testing.assert_close(out[2], expected)


def test_a_bipartite_pair_is_transformed_on_the_source_side():
    x, edge_index = _graph()
    x_dst = x[:10]
    mask = edge_index[1] < 10
    bipartite = edge_index[:, mask]
    conv = LinearFirstSAGEConv(24, 5)
    out = conv((x, x_dst), bipartite, size=(40, 10))
    torch.testing.assert_close(out, SAGEConv.forward(conv, (x, x_dst), bipartite, (40, 10)))


@pytest.mark.parametrize("make", [
    lambda: LinearFirstSAGEConv(24, 5, aggr="max"),
    lambda: LinearFirstSAGEConv(24, 5, project=True),
    lambda: LinearFirstSAGEConv(24, 30),  # wider output: aggregating first is cheaper
])
def test_other_configurations_run_sage_conv_unchanged(make):
    x, edge_index = _graph()
    conv = make()
    assert not conv.linear_first
    torch.testing.assert_close(conv(x, edge_index), SAGEConv.forward(conv, x, edge_index),
                               atol=0, rtol=0)


def test_sparse_features_run_sage_conv_unchanged():
    x, _ = _graph()
    conv = LinearFirstSAGEConv(24, 5)
    assert conv.linear_first and not conv.transforms_first(x.to_sparse())


def test_the_model_has_graphsage_parameters_and_outputs():
    x, edge_index = _graph()
    torch.manual_seed(3)
    ours = LinearFirstGraphSAGE(24, 16, 2, 4)
    torch.manual_seed(3)
    theirs = GraphSAGE(24, 16, 2, 4)
    assert isinstance(ours, GraphSAGE)
    assert all(isinstance(c, LinearFirstSAGEConv) for c in ours.convs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(p, q)
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x, edge_index), theirs(x, edge_index), atol=1e-5, rtol=1e-5)


def test_peer_forward_takes_the_exact_self_loop_form():
    x, _ = _graph()
    model = LinearFirstGraphSAGE(24, 16, 2, 4).eval()
    assert all(has_self_loop_form(c) for c in model.convs)
    h = model.convs[0].lin_l(x) + model.convs[0].lin_r(x)
    h = h.relu()
    expected = model.convs[1].lin_l(h) + model.convs[1].lin_r(h)
    torch.testing.assert_close(peer_forward(model, x), expected)


def test_auto_adjacency_no_longer_counts_it_as_aggregating_raw_features():
    wide = LinearFirstGraphSAGE(5000, 64, 2, 7)
    plain = GraphSAGE(5000, 64, 2, 7)
    # 30k edges x 5,000 features: a raw first layer takes CSR, a transformed one the list
    assert resolve_adjacency("auto", plain, 30_000, 5000) == "csr"
    assert resolve_adjacency("auto", wide, 30_000, 5000) == "edge-index"
    assert resolve_adjacency("csr", wide, 30_000, 5000) == "csr"


def test_repr_is_sage_conv_s():
    assert repr(LinearFirstSAGEConv(24, 5)) == "LinearFirstSAGEConv(24, 5, aggr=mean)"
