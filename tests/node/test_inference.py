"""Layer-wise full-graph inference equals the model's forward on the whole graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.testing import assert_close
from torch_geometric.nn.models import GCN

from fgsam._distributed import DistributedContext
from fgsam.data import GraphShape, load_graph, synthetic_graph
from fgsam.node.inference import layerwise_inference
from fgsam.node.models import build_node_model, prepare_graph

NAMES = ("gcn", "sage", "gat", "gin")
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(GraphShape(500, 4000, 16, 5), seed=0)


def trained(name: str, data, *, layers: int = 2, norm: str | None = None, hidden: int = 32):
    """A model after two SGD steps on the full graph (BatchNorm's running statistics
    move away from 0 and 1), and the graph it is fed."""
    torch.manual_seed(0)
    model = build_node_model(name, data.x.size(1), int(data.y.max()) + 1, hidden=hidden,
                             layers=layers, norm=norm)
    edge_index, edge_weight = prepare_graph(name, data.edge_index, data.num_nodes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(data.x, edge_index, edge_weight), data.y).backward()
        opt.step()
    return model, edge_index, edge_weight


def reference(model, x, edge_index, edge_weight) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x, edge_index, edge_weight)


@pytest.mark.parametrize("norm", [None, "batch"])
@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_equals_the_full_forward(graph, name: str, layers: int, norm) -> None:
    model, edge_index, edge_weight = trained(name, graph, layers=layers, norm=norm)
    if norm == "batch":
        stats = model.norms[0].module
        assert not torch.allclose(stats.running_var, torch.ones_like(stats.running_var))
    ref = reference(model, graph.x, edge_index, edge_weight)
    out = layerwise_inference(model, graph.x, edge_index, edge_weight, batch_size=77)
    assert out.shape == (500, 5) and not out.requires_grad
    assert_close(out, ref, **TOL)


@pytest.mark.parametrize("name", NAMES)
def test_equals_the_full_forward_on_cora(data_root, name: str) -> None:
    data, _ = load_graph("cora", data_root, download=False)
    model, edge_index, edge_weight = trained(name, data, norm="batch", hidden=16)
    ref = reference(model, data.x, edge_index, edge_weight)
    out = layerwise_inference(model, data.x, edge_index, edge_weight, batch_size=1000)
    assert_close(out, ref, **TOL)


@pytest.mark.parametrize("batch_size", [1, 499, 10_000])
def test_any_chunk_size_gives_the_same_output(graph, batch_size: int) -> None:
    model, edge_index, edge_weight = trained("gcn", graph, layers=3, norm="batch")
    ref = reference(model, graph.x, edge_index, edge_weight)
    assert_close(layerwise_inference(model, graph.x, edge_index, edge_weight,
                                     batch_size=batch_size, device="cpu"), ref, **TOL)


def test_layer_norm_per_node_and_a_wrapped_model(graph) -> None:
    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel's .module
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    model, edge_index, edge_weight = trained("gin", graph, layers=3, norm="layer")
    ref = reference(model, graph.x, edge_index, edge_weight)
    out = layerwise_inference(Wrapper(model), graph.x, edge_index, batch_size=100)
    assert_close(out, ref, **TOL)


def test_training_flags_are_restored(graph) -> None:
    model, edge_index, edge_weight = trained("sage", graph, layers=3, norm="batch")
    model.train()
    model.norms[1].eval()  # a mixed state comes back as it was
    flags = {name: m.training for name, m in model.named_modules()}
    ref = reference(model, graph.x, edge_index, edge_weight)
    model.train()
    model.norms[1].eval()
    assert_close(layerwise_inference(model, graph.x, edge_index, batch_size=128), ref, **TOL)
    assert {name: m.training for name, m in model.named_modules()} == flags


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap_features_give_the_same_output(graph, tmp_path, dtype) -> None:
    model, edge_index, edge_weight = trained("gcn", graph, layers=2, norm="batch")
    path = tmp_path / "x.bin"
    features = np.memmap(path, dtype=dtype, mode="w+", shape=tuple(graph.x.shape))
    features[:] = graph.x.numpy()
    features.flush()
    features = np.memmap(path, dtype=dtype, mode="r", shape=tuple(graph.x.shape))
    out = layerwise_inference(model, features, edge_index, edge_weight, batch_size=77)
    assert out.dtype == torch.float32
    assert_close(out, layerwise_inference(model, graph.x, edge_index, edge_weight), **TOL)
    assert_close(out, reference(model, graph.x, edge_index, edge_weight), **TOL)


def test_sparse_features_give_the_same_output(graph) -> None:
    model, edge_index, edge_weight = trained("sage", graph, layers=2)
    x = graph.x.relu().to_sparse()
    ref = reference(model, x.to_dense(), edge_index, edge_weight)
    assert_close(layerwise_inference(model, x, edge_index, batch_size=77), ref, **TOL)


SHAPE = GraphShape(501, 4000, 16, 5)  # odd: the two ranks' ranges differ by one node


def _worker(rank: int, world: int, init_file: str, state: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        data = synthetic_graph(SHAPE, seed=0)
        results = {}
        for name in NAMES:
            model = build_node_model(name, 16, 5, hidden=32, layers=3, norm="batch")
            model.load_state_dict(torch.load(state)[name])
            edge_index, edge_weight = prepare_graph(name, data.edge_index, data.num_nodes)
            results[name] = layerwise_inference(model, data.x, edge_index, edge_weight,
                                                batch_size=64,
                                                ctx=DistributedContext(rank, world))
        torch.save(results, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_processes_give_the_output_of_one(tmp_path) -> None:
    data = synthetic_graph(SHAPE, seed=0)
    states, single = {}, {}
    for name in NAMES:
        model, edge_index, edge_weight = trained(name, data, layers=3, norm="batch")
        states[name] = model.state_dict()
        single[name] = layerwise_inference(model, data.x, edge_index, edge_weight,
                                           batch_size=64)
        assert_close(single[name], reference(model, data.x, edge_index, edge_weight), **TOL)
    torch.save(states, tmp_path / "state.pt")
    out = str(tmp_path / "out")
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "state.pt"), out),
             nprocs=2)
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for name in NAMES:
        assert rank0[name].shape == (501, 5) and torch.equal(rank0[name], rank1[name])
        assert_close(rank0[name], single[name], **TOL)


@pytest.mark.parametrize("make, message", [
    (lambda: torch.nn.Linear(16, 5), "supports PyG BasicGNN models (GCN, GraphSAGE, GAT, "
                                     "GIN, ...) with jk=None, got Linear"),
    (lambda: GCN(16, 32, 2, 5, jk="cat", normalize=False),
     "supports BasicGNN models with jk=None, got jk='cat'"),
    (lambda: GCN(16, 32, 2, 5), "supports GCNConv with normalize=False only"),
    (lambda: GCN(16, 32, 2, 5, normalize=False, norm="layer_norm"),
     "supports norms that act on each node alone, got LayerNorm(32, affine=True, mode=graph)"),
])
def test_rejects_unsupported_models(graph, make, message: str) -> None:
    with pytest.raises(ValueError) as info:
        layerwise_inference(make(), graph.x, graph.edge_index)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    ({"x": "short"}, "x has 400 rows but edge_index names nodes in [0, 499]: one row per node"),
    ({"x": "flat"}, "x must have a shape [N, F], got (500,)"),
    ({"x": None}, "x must have a shape [N, F], got NoneType"),
    ({"edge_index": "float"}, "edge_index must be a long tensor of shape [2, E], got "
                              "torch.float32 of shape (2, 4500)"),
    ({"edge_weight": "short"}, "edge_weight must be a tensor of shape [4500] (one per edge), "
                               "got (4499,)"),
    ({"name": "sage", "edge_weight": "ones"},
     "edge_weight was given but LinearFirstGraphSAGE takes no edge weights"),
    ({"device": "meta"}, "the model's parameters are on cpu, not on device=meta"),
])
def test_rejects_bad_arguments(graph, change: dict, message: str) -> None:
    change = dict(change)
    model = build_node_model(change.pop("name", "gcn"), 16, 5, hidden=32, layers=2)
    edge_index, edge_weight = prepare_graph("gcn", graph.edge_index, graph.num_nodes)
    kwargs = {"x": graph.x, "edge_index": edge_index, "edge_weight": edge_weight}
    forms = {"short": {"x": graph.x[:400], "edge_weight": edge_weight[1:]},
             "flat": {"x": graph.x[:, 0]}, "float": {"edge_index": edge_index.float()},
             "ones": {"edge_weight": torch.ones(edge_index.size(1))}}
    for key in ("x", "edge_index", "edge_weight"):
        if key in change:
            value = change.pop(key)
            kwargs[key] = forms[value][key] if isinstance(value, str) else value
    with pytest.raises(ValueError) as info:
        layerwise_inference(model, kwargs.pop("x"), **kwargs, **change)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["gcn", "sage", "gin"])
def test_the_csr_path_equals_the_full_forward(graph, name: str) -> None:
    model, edge_index, edge_weight = trained(name, graph, layers=3, norm="batch")
    ref = reference(model, graph.x, edge_index, edge_weight)
    out = layerwise_inference(model, graph.x, edge_index, edge_weight, batch_size=77,
                              adjacency="csr")
    assert_close(out, ref, **TOL)


def test_csr_is_refused_for_a_layer_without_a_sparse_product(graph) -> None:
    model, edge_index, _ = trained("gat", graph)
    with pytest.raises(ValueError, match="adjacency='csr' needs layers that propagate by a "
                                         "sparse product"):
        layerwise_inference(model, graph.x, edge_index, adjacency="csr")
    # auto falls back to the edge list for GAT
    assert_close(layerwise_inference(model, graph.x, edge_index, adjacency="auto"),
                 reference(model, graph.x, edge_index, None), **TOL)
