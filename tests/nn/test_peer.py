"""The PeerMLP view equals the explicit "message passing removed" formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import (
    GAT,
    GCN,
    GIN,
    GATConv,
    GCNConv,
    GINConv,
    GraphSAGE,
    MessagePassing,
    SAGEConv,
)

from fgsam.nn import peer_forward, self_loop_edge_index

TOL = {"rtol": 1e-12, "atol": 1e-12}
N, F_IN = 12, 5


@pytest.fixture()
def graph():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, F_IN, generator=g, dtype=torch.float64)
    edge_index = torch.randint(0, N, (2, 40), generator=g)
    return x, edge_index


def conv_formulas():
    """(conv, its explicit PeerMLP formula)."""
    gcn = GCNConv(F_IN, 3)
    gat = GATConv(F_IN, 3, heads=2)
    gat_mean = GATConv(F_IN, 3, heads=2, concat=False)
    sage = SAGEConv(F_IN, 3)
    gin = GINConv(torch.nn.Sequential(torch.nn.Linear(F_IN, 4), torch.nn.ReLU(),
                                      torch.nn.Linear(4, 3)))
    gin_eps = GINConv(torch.nn.Linear(F_IN, 3), eps=0.3)
    return [
        ("GCNConv", gcn, lambda x: x @ gcn.lin.weight.T + gcn.bias),
        ("GATConv", gat, lambda x: x @ gat.lin.weight.T + gat.bias),
        ("GATConv-mean", gat_mean,
         lambda x: (x @ gat_mean.lin.weight.T).view(-1, 2, 3).mean(1) + gat_mean.bias),
        ("SAGEConv", sage, lambda x: sage.lin_l(x) + sage.lin_r(x)),
        ("GINConv", gin, lambda x: gin.nn(2 * x)),
        ("GINConv-eps", gin_eps, lambda x: gin_eps.nn((2 + gin_eps.eps) * x)),
    ]


@pytest.mark.parametrize("case", range(6))
def test_convolutions_become_their_explicit_formulas(graph, case):
    x, _ = graph
    name, conv, formula = conv_formulas()[case]
    conv = conv.double()
    torch.testing.assert_close(peer_forward(conv, x), formula(x), **TOL, msg=name)


def _layers(model, x, conv_formula):
    """The basic_gnn forward written out: conv, then ReLU between layers."""
    for i, conv in enumerate(model.convs):
        x = conv_formula(conv, x)
        if i < len(model.convs) - 1:
            x = F.relu(x)
    return x


def _gat(conv, x):
    """GATConv without neighbours: ``xW + b`` (heads concatenated, or averaged)."""
    h = x @ conv.lin.weight.T
    if not conv.concat:  # basic_gnn's last GAT layer averages its heads
        h = h.view(x.size(0), conv.heads, conv.out_channels).mean(1)
    return h + conv.bias


MODELS = {
    "GCN": (lambda: GCN(F_IN, 8, 3, 4), lambda c, x: x @ c.lin.weight.T + c.bias),
    "GraphSAGE": (lambda: GraphSAGE(F_IN, 8, 3, 4), lambda c, x: c.lin_l(x) + c.lin_r(x)),
    "GAT": (lambda: GAT(F_IN, 8, 3, 4, heads=2), lambda c, x: _gat(c, x)),
    "GIN": (lambda: GIN(F_IN, 8, 3, 4), lambda c, x: c.nn(2 * x)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_pyg_models_become_their_layer_by_layer_formula(graph, name):
    x, _ = graph
    make, conv_formula = MODELS[name]
    model = make().double().eval()
    torch.testing.assert_close(peer_forward(model, x), _layers(model, x, conv_formula), **TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_rows_of_the_index_equal_rows_of_the_full_view(graph, name):
    x, _ = graph
    model = MODELS[name][0]().double().eval()
    index = torch.tensor([7, 0, 3, 3, 11])
    full = peer_forward(model, x)
    torch.testing.assert_close(peer_forward(model, x, index), full[index], **TOL)
    mask = torch.zeros(N, dtype=torch.bool)
    mask[[1, 4, 9]] = True
    torch.testing.assert_close(peer_forward(model, x, mask), full[mask], **TOL)


def test_edge_index_passed_is_exactly_len_index_self_loops(graph):
    x, _ = graph
    model = GCN(F_IN, 8, 2, 4).double()
    seen = []

    def record(module, args, kwargs):
        seen.append(args[1] if len(args) > 1 else kwargs["edge_index"])

    for conv in model.convs:
        conv.register_forward_pre_hook(record, with_kwargs=True)
    index = torch.tensor([5, 2, 8])
    peer_forward(model, x, index)
    assert len(seen) == 2
    for edge_index in seen:
        assert edge_index.shape == (2, 3)
        assert torch.equal(edge_index[0], edge_index[1])
        assert torch.equal(edge_index[0], torch.arange(3))


@pytest.mark.parametrize(
    "index",
    [[3, 1, 10], [0, 2, 2, 11], [2, 4, 5], [], "mask"],
    ids=["unsorted", "repeated", "with-empty-rows", "empty", "mask"],
)
def test_sparse_features_give_the_dense_result(graph, index):
    x, _ = graph
    x = x * (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.4)
    x[4] = 0.0  # a row without entries
    model = GCN(F_IN, 8, 2, 4).double()
    if index == "mask":
        index = torch.arange(N) % 3 == 0
    else:
        index = torch.tensor(index, dtype=torch.long)
    sparse = x.to_sparse()
    torch.testing.assert_close(peer_forward(model, sparse, index), peer_forward(model, x, index),
                               **TOL)


def test_forward_peer_takes_precedence(graph):
    x, _ = graph

    class WithPeer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(F_IN, 2, dtype=torch.float64)

        def forward(self, x, edge_index):
            raise AssertionError("forward must not run when forward_peer exists")

        def forward_peer(self, x, scale=1.0):
            return scale * self.lin(x)

    model = WithPeer()
    index = torch.tensor([0, 6])
    out = peer_forward(model, x, index, scale=3.0)
    torch.testing.assert_close(out, 3.0 * model.lin(x[index]), **TOL)


def test_cached_convolutions_keep_their_cache(graph):
    x, edge_index = graph
    model = GCN(F_IN, 8, 2, 4, cached=True).double()
    before = model(x, edge_index)
    caches = [conv._cached_edge_index for conv in model.convs]
    assert all(c is not None for c in caches)
    peer = peer_forward(model, x, torch.tensor([1, 2]))
    assert peer.shape == (2, 4)
    for conv, cache in zip(model.convs, caches):
        assert conv.cached is True and conv._cached_edge_index is cache
    torch.testing.assert_close(model(x, edge_index), before, **TOL)
    # The peer view never used the full-graph cache: it equals an uncached model's.
    twin = GCN(F_IN, 8, 2, 4).double()
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(peer, peer_forward(twin, x, torch.tensor([1, 2])), **TOL)


def test_self_loop_edge_index():
    assert torch.equal(self_loop_edge_index(3), torch.tensor([[0, 1, 2], [0, 1, 2]]))
    assert self_loop_edge_index(0).shape == (2, 0)
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        self_loop_edge_index(-1)


def test_inference_mode_calls_do_not_leak_into_training_calls(graph):
    # The self-loop edge_index is built once per size: one made under inference_mode must
    # not reach a training call, whose gather saves it for backward.
    class Conv(MessagePassing):
        def __init__(self):
            super().__init__(aggr="add")
            self.lin = torch.nn.Linear(F_IN, 4)

        def forward(self, x, edge_index):
            return self.propagate(edge_index, x=self.lin(x))

    x, _ = graph
    model = Conv().double()
    index = torch.tensor([1, 4, 7])
    with torch.inference_mode():
        expected = peer_forward(model, x, index)
    out = peer_forward(model, x, index)
    out.sum().backward()
    torch.testing.assert_close(out.detach(), expected, **TOL)
    assert all(p.grad is not None for p in model.parameters())


def test_an_instance_forward_is_put_back(graph):
    x, _ = graph
    conv = GCNConv(F_IN, 3).double()
    calls = []

    def own_forward(*args, **kwargs):
        calls.append(1)
        return GCNConv.forward(conv, *args, **kwargs)

    conv.forward = own_forward
    out = peer_forward(conv, x, torch.tensor([0, 3]))
    torch.testing.assert_close(out, x[[0, 3]] @ conv.lin.weight.T + conv.bias, **TOL)
    assert conv.forward is own_forward and not calls  # the form ran, then theirs came back


@pytest.mark.parametrize("dtype", [torch.long, torch.int])
def test_negative_and_int32_ids_index_as_torch_does(graph, dtype):
    x, _ = graph
    model = GCN(F_IN, 8, 2, 4).double()
    ids = torch.tensor([-1, 2, 2, 0], dtype=dtype)
    torch.testing.assert_close(peer_forward(model, x, ids),
                               peer_forward(model, x, torch.tensor([N - 1, 2, 2, 0])), **TOL)
