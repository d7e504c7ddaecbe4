"""The PeerMLP of edge-featured layers equals its hand formula; heterogeneous input is refused."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import (
    GAT,
    GATConv,
    GATv2Conv,
    GINEConv,
    HeteroConv,
    SAGEConv,
    TransformerConv,
    to_hetero,
)

from fgsam.nn import peer_forward, self_loop_edge_index
from fgsam.nn.peer import HETERO_UNSUPPORTED
from fgsam.nn.peer_edges import edge_width, self_loop_edge_attr

TOL = {"rtol": 1e-12, "atol": 1e-12}
N, F_IN, F_E, H, C = 10, 5, 3, 2, 4


@pytest.fixture()
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, F_IN, generator=g, dtype=torch.float64)
    e = torch.randn(N, F_E, generator=g, dtype=torch.float64)
    return x, e


def lin(x, layer):
    """``x W^T + b`` from the weights, not the module's forward."""
    out = x @ layer.weight.T
    return out if layer.bias is None else out + layer.bias


def heads(h, concat):
    """``[n, H*C]`` to concatenated or averaged heads."""
    return h if concat else h.view(h.size(0), H, C).mean(1)


def test_gine_with_edge_dim(data):
    x, e = data
    conv = GINEConv(torch.nn.Sequential(torch.nn.Linear(F_IN, 6), torch.nn.ReLU(),
                                        torch.nn.Linear(6, 2)), eps=0.3, edge_dim=F_E).double()
    expect = conv.nn((1 + conv.eps) * x  # eps is stored in float32 first, so not 0.3 exactly
                      + torch.relu(x + lin(e, conv.lin)))
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=e), expect, **TOL)


def test_gine_without_edge_dim_adds_the_attribute_itself(data):
    x, _ = data
    conv = GINEConv(torch.nn.Linear(F_IN, 2), train_eps=True).double()
    fill = torch.linspace(-1, 1, F_IN, dtype=torch.float64)
    expect = conv.nn((1 + conv.eps) * x + torch.relu(x + fill))
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=fill), expect, **TOL)


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("loops", [True, False])
def test_gat_with_edge_dim_is_lin_x_whatever_the_edge(data, concat, loops):
    x, e = data
    conv = GATConv(F_IN, C, heads=H, concat=concat, edge_dim=F_E,
                   add_self_loops=loops).double()
    expect = heads(x @ conv.lin.weight.T, concat) + conv.bias
    for attr in (e, 100 * e, 0.0):
        torch.testing.assert_close(peer_forward(conv, x, edge_attr=attr), expect, **TOL)


def test_gat_residual(data):
    x, e = data
    conv = GATConv(F_IN, C, heads=H, edge_dim=F_E, residual=True).double()
    expect = x @ conv.lin.weight.T + lin(x, conv.res) + conv.bias
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=e), expect, **TOL)


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("loops", [True, False])
def test_gatv2_with_edge_dim_is_the_source_linear(data, share, loops):
    x, e = data
    conv = GATv2Conv(F_IN, C, heads=H, edge_dim=F_E, share_weights=share,
                     add_self_loops=loops).double()
    expect = lin(x, conv.lin_l) + conv.bias
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=e), expect, **TOL)
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=-e), expect, **TOL)


@pytest.mark.parametrize("concat", [True, False])
def test_transformer_with_edge_dim_adds_value_and_edge(data, concat):
    x, e = data
    conv = TransformerConv(F_IN, C, heads=H, concat=concat, edge_dim=F_E).double()
    value = heads(lin(x, conv.lin_value) + e @ conv.lin_edge.weight.T, concat)
    expect = value + lin(x, conv.lin_skip)
    torch.testing.assert_close(peer_forward(conv, x, edge_attr=e), expect, **TOL)


def test_transformer_gated_skip_and_no_skip(data):
    x, e = data
    gated = TransformerConv(F_IN, C, heads=H, edge_dim=F_E, beta=True).double()
    v = lin(x, gated.lin_value) + e @ gated.lin_edge.weight.T
    s = lin(x, gated.lin_skip)
    beta = torch.sigmoid(torch.cat([v, s, v - s], -1) @ gated.lin_beta.weight.T)
    torch.testing.assert_close(peer_forward(gated, x, edge_attr=e), beta * s + (1 - beta) * v,
                               **TOL)
    bare = TransformerConv(F_IN, C, heads=H, edge_dim=F_E, root_weight=False).double()
    expect = lin(x, bare.lin_value) + e @ bare.lin_edge.weight.T
    torch.testing.assert_close(peer_forward(bare, x, edge_attr=e), expect, **TOL)


def test_gat_model_gets_edge_attr_through_its_forward(data):
    x, e = data
    model = GAT(F_IN, 8, 2, 3, heads=2, edge_dim=F_E).double().eval()
    index = torch.tensor([4, 1, 7])
    out = peer_forward(model, x, index, edge_attr=e[index])
    general = model(x[index], self_loop_edge_index(3), edge_attr=e[index])
    torch.testing.assert_close(out, general, **TOL)


def gine():
    return GINEConv(torch.nn.Linear(F_IN, 2), edge_dim=F_E).double()


def test_every_edge_attr_form_gives_its_rows(data):
    x, e = data
    conv = gine()
    index = torch.tensor([2, 9, 0])
    fill = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)

    def with_rows(rows):
        return conv.nn((1 + conv.eps) * x[index] + torch.relu(x[index] + lin(rows, conv.lin)))

    forms = [
        (fill, fill.expand(3, -1)),
        (e[index], e[index]),
        (1.5, torch.full((3, F_E), 1.5, dtype=torch.float64)),
        (torch.tensor(-2.0, dtype=torch.float64), torch.full((3, F_E), -2.0,
                                                             dtype=torch.float64)),
        (lambda n: fill.repeat(n, 1), fill.expand(3, -1)),
        (lambda n: fill, fill.expand(3, -1)),
    ]
    for rule, rows in forms:
        torch.testing.assert_close(peer_forward(conv, x, index, edge_attr=rule), with_rows(rows),
                                   **TOL)


def test_a_learned_self_loop_embedding_gets_gradients(data):
    x, _ = data
    conv = gine()
    loop = torch.nn.Embedding(1, F_E, dtype=torch.float64)

    def embed(n):
        return loop(torch.zeros(n, dtype=torch.long))

    peer_forward(conv, x, torch.tensor([0, 3]), edge_attr=embed).square().sum().backward()
    assert loop.weight.grad is not None and loop.weight.grad.abs().sum() > 0
    assert conv.lin.weight.grad is not None


def test_the_fill_width_is_read_from_the_layers():
    assert edge_width(gine()) == F_E
    assert edge_width(GINEConv(torch.nn.Sequential(torch.nn.Linear(7, 2)))) == 7
    assert edge_width(GAT(F_IN, 8, 2, 3, edge_dim=F_E)) == F_E
    with pytest.raises(ValueError, match=r"edge width, and the model's layers give none"):
        edge_width(SAGEConv(F_IN, 2))
    mixed = torch.nn.ModuleList([gine(), GATConv(F_IN, 2, edge_dim=F_E + 1)])
    with pytest.raises(ValueError, match=r"give \[3, 4\]: pass a \[F_e\] tensor"):
        self_loop_edge_attr(0.0, 4, mixed)


@pytest.mark.parametrize("fill", ["mean", "add", "max", "mul"])
def test_aggregating_fills_are_refused(data, fill):
    x, _ = data
    with pytest.raises(ValueError, match=f"edge_attr='{fill}' aggregates a node's real incoming"):
        peer_forward(gine(), x, edge_attr=fill)


def test_bad_edge_attr_forms(data):
    x, e = data
    with pytest.raises(ValueError, match="edge_attr has 10 rows, expected 2"):
        peer_forward(gine(), x, torch.tensor([0, 1]), edge_attr=e)
    with pytest.raises(TypeError, match="callable must return a tensor, got list"):
        peer_forward(gine(), x, edge_attr=lambda n: [0.0])
    with pytest.raises(TypeError, match="got a bool"):
        peer_forward(gine(), x, edge_attr=True)
    with pytest.raises(ValueError, match="'zeros' is not a fill rule"):
        peer_forward(gine(), x, edge_attr="zeros")


@pytest.mark.parametrize("layer", ["gine", "gine-no-edge-dim", "transformer"])
def test_a_missing_edge_attr_names_the_layer(data, layer):
    x, _ = data
    conv = {"gine": gine(),
            "gine-no-edge-dim": GINEConv(torch.nn.Linear(F_IN, 2)).double(),
            "transformer": TransformerConv(F_IN, C, edge_dim=F_E).double()}[layer]
    name = type(conv).__name__
    with pytest.raises(ValueError, match=rf"^{name} needs an edge attribute on each self-loop: "
                                         r"pass edge_attr= to peer_forward"):
        peer_forward(conv, x)
    model = torch.nn.ModuleDict({"inner": conv})
    model.forward = lambda x, edge_index, edge_attr=None: conv(x, edge_index, edge_attr)
    with pytest.raises(ValueError, match=rf"^{name} \(inner\) needs an edge attribute"):
        peer_forward(model, x)
    assert not conv._forward_pre_hooks  # the check is gone after the call


def test_a_forward_that_requires_edge_attr_says_to_pass_it(data):
    x, e = data

    class Needs(torch.nn.Module):
        def forward(self, x, edge_index, edge_attr):
            return x + edge_attr.sum(-1, keepdim=True)

    with pytest.raises(TypeError, match=r"^Needs.forward needs edge_attr: pass edge_attr="):
        peer_forward(Needs(), x)
    torch.testing.assert_close(peer_forward(Needs(), x, edge_attr=e), x + e.sum(-1, keepdim=True))

    class Takes(torch.nn.Module):
        def forward(self, x, edge_index):
            return x

    with pytest.raises(TypeError, match=r"^Takes.forward takes no edge_attr: define forward_peer"):
        peer_forward(Takes(), x, edge_attr=e)


def test_forward_peer_gets_the_resolved_edge_attr(data):
    x, _ = data
    seen = {}

    class WithPeer(torch.nn.Module):
        def forward(self, x, edge_index):
            raise AssertionError("forward must not run when forward_peer exists")

        def forward_peer(self, x, edge_attr=None):
            seen["edge_attr"] = edge_attr
            return x

    peer_forward(WithPeer(), x, torch.tensor([1, 2]), edge_attr=torch.ones(F_E))
    assert seen["edge_attr"].shape == (2, F_E)


def hetero_graph():
    g = torch.Generator().manual_seed(1)
    x = {"paper": torch.randn(6, F_IN, generator=g), "author": torch.randn(4, F_IN, generator=g)}
    edges = {("author", "writes", "paper"): torch.tensor([[0, 1, 3], [2, 5, 0]]),
             ("paper", "rev_writes", "author"): torch.tensor([[2, 5, 0], [0, 1, 3]]),
             ("paper", "cites", "paper"): torch.tensor([[0, 1], [1, 2]])}
    return x, edges


class TwoLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = SAGEConv((-1, -1), 8), SAGEConv((-1, -1), 3)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_heterogeneous_models_are_refused_with_what_to_do():
    x, edges = hetero_graph()
    metadata = (list(x), list(edges))
    hetero = to_hetero(TwoLayers(), metadata)
    conv = HeteroConv({rel: SAGEConv((-1, -1), 3) for rel in edges})
    for model in (hetero, conv):
        model(x, edges)  # the real graph works (and initialises the lazy layers)
        with pytest.raises(TypeError, match="^" + HETERO_UNSUPPORTED.replace("(", r"\(")
                           .replace(")", r"\)").replace("*", r"\*")):
            peer_forward(model, x)
    assert "define forward_peer(x_dict, **kwargs)" in HETERO_UNSUPPORTED


def test_a_heterogeneous_forward_peer_gets_each_types_rows():
    x, _ = hetero_graph()

    class WithPeer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lins = torch.nn.ModuleDict({t: torch.nn.Linear(F_IN, 2) for t in x})

        def forward_peer(self, x_dict):
            return {t: self.lins[t](v) for t, v in x_dict.items()}

    model = WithPeer()
    out = peer_forward(model, x, {"paper": torch.tensor([5, 0])})
    torch.testing.assert_close(out["paper"], model.lins["paper"](x["paper"][[5, 0]]))
    torch.testing.assert_close(out["author"], model.lins["author"](x["author"]))
    with pytest.raises(TypeError, match="index must be a dict of rows per node type"):
        peer_forward(model, x, torch.tensor([0]))


@pytest.mark.parametrize("edge_dim", [F_E, None])
def test_the_gine_form_gives_the_layers_bits_and_gradients(edge_dim):
    from fgsam.nn.peer_layers import has_self_loop_form, self_loop_forms

    torch.manual_seed(0)
    conv = GINEConv(torch.nn.Sequential(torch.nn.Linear(F_IN, 6), torch.nn.ReLU(),
                                        torch.nn.Linear(6, 2)), train_eps=True, edge_dim=edge_dim)
    assert has_self_loop_form(conv)
    x = torch.randn(N, F_IN, requires_grad=True)
    e = torch.randn(N, edge_dim or F_IN, requires_grad=True)
    loops = self_loop_edge_index(N)
    reference = conv(x, loops, e)
    ref_grads = torch.autograd.grad(reference.square().sum(), [x, e, *conv.parameters()])
    with self_loop_forms([conv]):
        out = conv(x, loops, e)
    grads = torch.autograd.grad(out.square().sum(), [x, e, *conv.parameters()])
    assert torch.equal(out, reference)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert torch.equal(peer_forward(conv, x, edge_attr=e), reference)
    assert "forward" not in vars(conv)


def test_the_gine_form_leaves_other_inputs_to_the_layer():
    from fgsam.nn.peer_layers import self_loop_forms

    conv = GINEConv(torch.nn.Linear(F_IN, 2))
    x, loops = torch.randn(N, F_IN), self_loop_edge_index(N)
    with self_loop_forms([conv]):
        with pytest.raises(ValueError, match="Node and edge feature dimensionalities"):
            conv(x, loops, torch.randn(N, F_IN + 1))  # PyG's own message check still applies
        torch.testing.assert_close(conv(x, loops, torch.ones(N, F_IN), (N, N)),
                                   GINEConv.forward(conv, x, loops, torch.ones(N, F_IN)))


def test_attention_dropout_scales_each_heads_message_by_zero_or_its_inverse_keep():
    torch.manual_seed(0)
    conv = GATConv(F_IN, C, heads=H, dropout=0.5, edge_dim=F_E).double().train()
    x = torch.randn(N, F_IN, dtype=torch.float64)
    ratio = ((peer_forward(conv, x, edge_attr=0.0) - conv.bias) / (x @ conv.lin.weight.T))
    ratio = ratio.view(N, H, C)
    torch.testing.assert_close(ratio, ratio[..., :1].expand(-1, -1, C), **TOL)
    assert set(ratio[..., 0].abs().flatten().tolist()) <= {0.0, 2.0}
