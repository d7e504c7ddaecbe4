"""The node models by name: PyG's classes, GCN's full-graph normalisation, the PeerMLP."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close
from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE
from torch_geometric.nn.norm import BatchNorm, LayerNorm

from fgsam.data import GraphShape, load_graph, synthetic_graph
from fgsam.nn import LinearFirstGraphSAGE, peer_forward, self_loop_edge_index
from fgsam.node.models import NODE_MODELS, build_node_model, prepare_graph, uses_edge_weight

NAMES = ("gcn", "sage", "gat", "gin")


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(GraphShape(500, 4000, 16, 5), seed=0)


def test_the_registry_names_pygs_own_classes() -> None:
    assert {name: entry.cls for name, entry in NODE_MODELS.items()} == {
        "gcn": GCN, "sage": LinearFirstGraphSAGE, "gat": GAT, "gin": GIN}
    assert issubclass(LinearFirstGraphSAGE, GraphSAGE)  # PyG's, transformed first
    assert dict(NODE_MODELS["gcn"].fixed) == {"normalize": False}
    with pytest.raises(TypeError):  # the fixed arguments are read-only
        NODE_MODELS["gcn"].fixed["normalize"] = True


@pytest.mark.parametrize("name", NAMES)
def test_build_passes_the_arguments_through(name: str) -> None:
    model = build_node_model(name, 16, 5, hidden=32, layers=3, dropout=0.25, norm="batch")
    assert type(model) is NODE_MODELS[name].cls
    assert (model.num_layers, model.hidden_channels, model.out_channels) == (3, 32, 5)
    assert model.dropout.p == 0.25 and model.jk_mode is None
    assert all(isinstance(n, BatchNorm) for n in model.norms[:-1])
    assert model(torch.randn(7, 16), self_loop_edge_index(7)).shape == (7, 5)
    layer = build_node_model(name, 16, 5, hidden=32, norm="layer")
    norms = [m for m in layer.modules() if isinstance(m, LayerNorm)]
    assert norms and all(m.mode == "node" for m in norms)  # per node, not over the graph
    assert uses_edge_weight(model) is (name == "gcn")


def test_gcn_is_unnormalised_and_gat_follows_pygs_heads() -> None:
    gcn = build_node_model("gcn", 16, 5, hidden=32, layers=2)
    assert all(not conv.normalize for conv in gcn.convs)
    gat = build_node_model("gat", 16, 5, hidden=32, layers=3, heads=4)
    for conv in gat.convs[:-1]:  # hidden layers: 4 heads of 8 channels, concatenated
        assert (conv.heads, conv.out_channels, conv.concat) == (4, 8, True)
    last = gat.convs[-1]  # the last layer: 4 heads of 5 channels, averaged
    assert (last.heads, last.out_channels, last.concat) == (4, 5, False)
    assert build_node_model("gat", 16, 5, hidden=30, layers=1, heads=4).convs[0].heads == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "gcnn"}, "name must be one of ['gat', 'gcn', 'gin', 'sage'], got 'gcnn'"),
    ({"name": None}, "name must be one of"),
    ({"in_channels": 0}, "in_channels must be an integer >= 1, got 0"),
    ({"out_channels": 2.0}, "out_channels must be an integer >= 1, got 2.0"),
    ({"hidden": True}, "hidden must be an integer >= 1, got True"),
    ({"layers": 0}, "layers must be an integer >= 1, got 0"),
    ({"heads": -1}, "heads must be an integer >= 1, got -1"),
    ({"dropout": 1.0}, "dropout must be in [0.0, 1.0), got 1.0"),
    ({"dropout": "0.5"}, "dropout must be in"),
    ({"norm": "batch_norm"}, "norm must be one of [None, 'batch', 'layer'], got 'batch_norm'"),
    ({"name": "gat", "hidden": 30, "heads": 4},
     "hidden must be divisible by heads for gat, got hidden=30 and heads=4"),
])
def test_build_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"name": "gcn", "in_channels": 16, "out_channels": 5, **kwargs}
    with pytest.raises(ValueError) as info:
        build_node_model(args.pop("name"), args.pop("in_channels"), args.pop("out_channels"),
                         **args)
    assert message in str(info.value) and "\n" not in str(info.value)


def _gcn_matches_pygs_normalisation(data) -> None:
    ours = build_node_model("gcn", data.x.size(1), 5, hidden=32, layers=2).eval()
    pyg = GCN(data.x.size(1), 32, 2, 5, normalize=True).eval()
    pyg.load_state_dict(ours.state_dict())
    edge_index, edge_weight = prepare_graph("gcn", data.edge_index, data.num_nodes)
    assert edge_weight is not None and edge_weight.shape == (edge_index.size(1),)
    loops = edge_index[0] == edge_index[1]
    assert int(loops.sum()) == data.num_nodes  # self-loops are in the returned graph
    assert_close(ours(data.x, edge_index, edge_weight), pyg(data.x, data.edge_index),
                 rtol=1e-5, atol=1e-5)


def test_prepared_gcn_equals_pygs_normalised_gcn(graph) -> None:
    _gcn_matches_pygs_normalisation(graph)


def test_prepared_gcn_equals_pygs_normalised_gcn_on_cora(data_root) -> None:
    data, _ = load_graph("cora", data_root, download=False)
    _gcn_matches_pygs_normalisation(data)


def test_prepared_gcn_weights_are_the_symmetric_normalisation() -> None:
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # the path 0 - 1 - 2
    out, weight = prepare_graph("gcn", edge_index, 3)
    deg = torch.tensor([2.0, 3.0, 2.0])  # with the self-loop
    assert_close(weight, (deg[out[0]] * deg[out[1]]).rsqrt())


@pytest.mark.parametrize("name", ["sage", "gat", "gin"])
def test_prepare_graph_leaves_the_others_unchanged(graph, name: str) -> None:
    edge_index, edge_weight = prepare_graph(name, graph.edge_index, graph.num_nodes)
    assert edge_index is graph.edge_index and edge_weight is None


@pytest.mark.parametrize("args, message", [
    (("gcnn", "ok", 500), "model_name must be one of ['gat', 'gcn', 'gin', 'sage'], got 'gcnn'"),
    (("gcn", "ok", 0), "num_nodes must be an integer >= 1, got 0"),
    (("gcn", "ok", 100), "edge_index must hold node ids in [0, 100), got ids in [0, 499]"),
    (("gcn", torch.zeros(3, 4, dtype=torch.long), 10),
     "edge_index must be a long tensor of shape [2, E], got torch.int64 of shape (3, 4)"),
    (("gcn", torch.zeros(2, 4), 10), "edge_index must be a long tensor of shape [2, E]"),
    (("gcn", [[0], [1]], 10), "edge_index must be a long tensor of shape [2, E], got list"),
])
def test_prepare_graph_rejects_bad_arguments(graph, args: tuple, message: str) -> None:
    name, edge_index, num_nodes = args
    edge_index = graph.edge_index if isinstance(edge_index, str) else edge_index
    with pytest.raises(ValueError) as info:
        prepare_graph(name, edge_index, num_nodes)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_uses_edge_weight_looks_through_a_wrapper() -> None:
    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel's .module
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    assert uses_edge_weight(Wrapper(build_node_model("gcn", 4, 2)))
    assert not uses_edge_weight(Wrapper(build_node_model("gat", 4, 2)))
    assert not uses_edge_weight(torch.nn.Linear(4, 2))


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("name", NAMES)
def test_peer_forward_is_the_model_on_the_self_loop_graph(graph, name: str, norm) -> None:
    model = build_node_model(name, 16, 5, hidden=32, layers=3, norm=norm)
    model.train()
    model(graph.x, graph.edge_index).sum().backward()  # BatchNorm running stats move
    model.eval()
    index = torch.arange(3, 500, 7)
    with torch.no_grad():
        peer = peer_forward(model, graph.x, index)
        ref = model(graph.x[index], self_loop_edge_index(index.numel()))
    assert peer.shape == (index.numel(), 5)
    assert_close(peer, ref, rtol=1e-5, atol=1e-6)


def test_gcn_peer_forward_is_an_mlp(graph) -> None:
    model = build_node_model("gcn", 16, 5, hidden=32, layers=2).eval()
    first, second = model.convs
    with torch.no_grad():
        mlp = (first.lin(graph.x) + first.bias).relu()
        mlp = second.lin(mlp) + second.bias
        assert_close(peer_forward(model, graph.x), mlp)
        # the unnormalised conv on the self-loop graph, without its closed form, agrees
        assert_close(model(graph.x, self_loop_edge_index(500)), mlp)
