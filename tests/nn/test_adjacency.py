"""The CSR adjacency: PyG's adj_t layout, the same outputs as the edge list, and when it is used."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GAT, GCN, GIN, GraphSAGE
from torch_geometric.transforms import ToSparseTensor

from fgsam.data import GraphShape, synthetic_graph
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency, unsupported_layers


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(GraphShape(120, 700, 6, 3), seed=0)


def test_csr_adjacency_is_pyg_adj_t(graph):
    ours = csr_adjacency(graph.edge_index, graph.num_nodes)
    pyg = ToSparseTensor(layout=torch.sparse_csr)(graph.clone()).adj_t
    assert ours.layout == torch.sparse_csr
    assert torch.equal(ours.to_dense(), pyg.to_dense())
    weight = torch.rand(graph.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    dense = csr_adjacency(graph.edge_index, graph.num_nodes, weight).to_dense()
    src, dst = graph.edge_index
    expected = torch.zeros(graph.num_nodes, graph.num_nodes).index_put_((dst, src), weight,
                                                                       accumulate=True)
    assert torch.equal(dense, expected)


@pytest.mark.parametrize("model", [GCN, GraphSAGE, GIN], ids=lambda m: m.__name__)
def test_sparse_layers_give_the_edge_list_outputs_and_gradients(graph, model):
    torch.manual_seed(0)
    m = model(6, 16, 2, 3).double().eval()
    x = graph.x.double()
    adj = csr_adjacency(graph.edge_index, graph.num_nodes).to(torch.float64)
    a, b = m(x, graph.edge_index), m(x, adj)
    torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad(a.square().sum(), list(m.parameters()))
    gb = torch.autograd.grad(m(x, adj).square().sum(), list(m.parameters()))
    for u, v in zip(ga, gb, strict=True):
        torch.testing.assert_close(v, u, rtol=1e-11, atol=1e-11)
    assert resolve_adjacency("csr", m) == "csr" and unsupported_layers(m) == []


def test_other_layers_keep_the_edge_list_and_csr_is_refused_for_them():
    m = GAT(6, 16, 2, 3)
    assert unsupported_layers(m) == ["GATConv", "GATConv"]
    assert resolve_adjacency("auto", m) == "edge-index"
    assert resolve_adjacency("edge-index", GCN(6, 16, 2, 3)) == "edge-index"
    with pytest.raises(ValueError, match="the model has GATConv: use 'edge-index'"):
        resolve_adjacency("csr", m)
    with pytest.raises(ValueError, match="must be one of auto, csr, edge-index, got 'coo'"):
        resolve_adjacency("coo", m)


def test_auto_keeps_the_edge_list_for_small_graphs_and_renormalising_gcns():
    from torch_geometric.nn import GCNConv

    from fgsam.nn.adjacency import AUTO_MIN_EDGES

    gcn = GCN(6, 16, 2, 3, cached=True)
    assert resolve_adjacency("auto", gcn, AUTO_MIN_EDGES) == "csr"
    assert resolve_adjacency("auto", gcn, AUTO_MIN_EDGES - 1) == "edge-index"
    assert resolve_adjacency("csr", gcn, 10) == "csr"  # asked for: given
    # normalising the sparse matrix again on every call is slower than the edge list
    assert resolve_adjacency("auto", GCN(6, 16, 2, 3), AUTO_MIN_EDGES) == "edge-index"
    assert resolve_adjacency("auto", GCNConv(6, 3, normalize=False), AUTO_MIN_EDGES) == "csr"


def test_auto_takes_csr_for_wide_raw_aggregations_on_small_graphs():
    from torch_geometric.nn import GraphSAGE

    from fgsam.nn.adjacency import AUTO_MIN_MESSAGES

    sage, gcn = GraphSAGE(6, 16, 2, 3), GCN(6, 16, 2, 3, cached=True)
    edges = 34_000  # Wiki's
    wide = -(-AUTO_MIN_MESSAGES // edges)  # the narrowest input that reaches the rule
    assert resolve_adjacency("auto", sage, edges, wide) == "csr"
    assert resolve_adjacency("auto", sage, edges, wide - 1) == "edge-index"
    assert resolve_adjacency("auto", sage, edges) == "edge-index"  # width unknown
    # GCN transforms before it aggregates: its messages are hidden-wide, the rule is not for it
    assert resolve_adjacency("auto", gcn, edges, wide) == "edge-index"
