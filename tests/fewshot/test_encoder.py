from __future__ import annotations

import pytest
import torch

from fgsam.fewshot.encoder import (
    GCNEncoder,
    SeededDropout,
    init_parameters,
    normalized_graph,
    reseed_dropout,
)
from fgsam.nn.peer import peer_forward


def dense_gcn_matrix(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    a = a + torch.eye(n, dtype=torch.float64)
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


def test_normalized_graph_is_symmetric_gcn_normalisation(toy):
    n = toy.num_nodes
    ei, ew = normalized_graph(toy.edge_index, n, torch.float64)
    got = torch.zeros(n, n, dtype=torch.float64)
    got[ei[1], ei[0]] = ew
    torch.testing.assert_close(got, dense_gcn_matrix(toy.edge_index, n), rtol=1e-12, atol=1e-14)


def test_normalized_graph_row_is_the_random_walk_normalisation(toy):
    import pytest

    n = toy.num_nodes
    ei, ew = normalized_graph(toy.edge_index, n, torch.float64, "row")
    got = torch.zeros(n, n, dtype=torch.float64)
    got[ei[1], ei[0]] = ew
    a = torch.eye(n, dtype=torch.float64)
    a[toy.edge_index[1], toy.edge_index[0]] = 1.0
    torch.testing.assert_close(got, a / a.sum(1, keepdim=True), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="normalization must be one of symmetric, row, got 'l1'"):
        normalized_graph(toy.edge_index, n, torch.float64, "l1")


def test_encoder_matches_dense_gcn_by_hand(toy):
    x = toy.x.double()
    enc = GCNEncoder(x.size(1), 8, 4, num_layers=2).double()
    init_parameters(enc, torch.Generator().manual_seed(1))
    w1, b1 = enc.convs[0].lin.weight, enc.convs[0].bias
    w2, b2 = enc.convs[1].lin.weight, enc.convs[1].bias
    a = dense_gcn_matrix(toy.edge_index, toy.num_nodes)
    expected = a @ torch.relu(a @ x @ w1.T + b1) @ w2.T + b2
    torch.testing.assert_close(enc(x, toy.edge_index), expected, rtol=1e-12, atol=1e-12)
    ei, ew = normalized_graph(toy.edge_index, toy.num_nodes, torch.float64)
    torch.testing.assert_close(enc(x, ei, ew), expected, rtol=1e-12, atol=1e-12)


def test_peer_view_is_the_mlp_on_the_rows(toy):
    x = toy.x.double()
    enc = GCNEncoder(x.size(1), 8, 4, num_layers=2, act_last=True).double()
    rows = torch.tensor([5, 17, 40])
    w1, b1 = enc.convs[0].lin.weight, enc.convs[0].bias
    w2, b2 = enc.convs[1].lin.weight, enc.convs[1].bias
    expected = torch.relu(torch.relu(x[rows] @ w1.T + b1) @ w2.T + b2)
    torch.testing.assert_close(peer_forward(enc, x, rows), expected, rtol=1e-12, atol=1e-12)


def test_seeded_dropout_is_reproducible_and_leaves_global_rng_alone():
    x = torch.ones(50, 7)
    state = torch.get_rng_state()
    a, b, c = SeededDropout(0.5, seed=3), SeededDropout(0.5, seed=3), SeededDropout(0.5, seed=4)
    out_a, out_b, out_c = a(x), b(x), c(x)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(out_a, out_b)
    assert not torch.equal(out_a, out_c)
    assert set(out_a.unique().tolist()) == {0.0, 2.0}  # kept entries scaled by 1 / (1 - p)
    a.reseed(3)
    assert torch.equal(a(x), out_a)
    a.eval()
    assert torch.equal(a(x), x)


def test_reseed_dropout_gives_each_layer_its_own_stream():
    enc = GCNEncoder(3, 4, 2, num_layers=3, dropout=0.5)
    enc.extra = SeededDropout(0.5)
    reseed_dropout(enc, 7)
    seeds = [m.seed for m in enc.modules() if isinstance(m, SeededDropout)]
    assert len(set(seeds)) == len(seeds) == 2


def test_init_parameters_is_reproducible():
    a, b = GCNEncoder(5, 4, 3), GCNEncoder(5, 4, 3)
    init_parameters(a, torch.Generator().manual_seed(0))
    init_parameters(b, torch.Generator().manual_seed(0))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert all(int(torch.count_nonzero(p)) == 0 for p in a.parameters() if p.dim() == 1)


@pytest.mark.parametrize("p", [-0.1, 1.0, "0.5"])
def test_bad_dropout_is_refused(p):
    with pytest.raises(ValueError, match="dropout"):
        SeededDropout(p)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="num_layers"):
        GCNEncoder(3, 4, 2, num_layers=0)


def test_forward_peer_is_the_forward_over_the_self_loop_graph_bit_for_bit():
    from fgsam.nn import peer_forward, self_loop_edge_index

    torch.manual_seed(0)
    x = torch.randn(30, 12)
    index = torch.tensor([4, 0, 29, 4, 17])
    for act_last in (False, True):
        a = GCNEncoder(12, 8, 5, num_layers=3, dropout=0.3, act_last=act_last).train()
        b = GCNEncoder(12, 8, 5, num_layers=3, dropout=0.3, act_last=act_last).train()
        b.load_state_dict(a.state_dict())
        for _ in range(2):  # the dropout streams advance alike
            general = b(x[index], self_loop_edge_index(len(index)))
            assert torch.equal(peer_forward(a, x, index), general)


def test_a_csr_adjacency_gives_the_edge_list_output_and_second_order_gradients(toy):
    from torch.func import functional_call

    from fgsam.nn.adjacency import csr_adjacency

    x = toy.x.double()
    enc = GCNEncoder(x.size(1), 8, 4, num_layers=2).double()
    init_parameters(enc, torch.Generator().manual_seed(1))
    ei, ew = normalized_graph(toy.edge_index, toy.num_nodes, torch.float64)
    adj = csr_adjacency(ei, toy.num_nodes, ew)
    expected = dense_gcn_matrix(toy.edge_index, toy.num_nodes)
    w1, b1 = enc.convs[0].lin.weight, enc.convs[0].bias
    w2, b2 = enc.convs[1].lin.weight, enc.convs[1].bias
    by_hand = expected @ torch.relu(expected @ x @ w1.T + b1) @ w2.T + b2
    torch.testing.assert_close(enc(x, adj), by_hand, rtol=1e-12, atol=1e-12)

    def maml(*graph):  # one inner step, then the outer gradient through it
        params = dict(enc.named_parameters())
        inner = functional_call(enc, params, (x, *graph)).tanh().pow(2).sum()
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        stepped = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads, strict=True)}
        return torch.autograd.grad(functional_call(enc, stepped, (x, *graph)).sin().sum(),
                                   list(params.values()))

    for got, want in zip(maml(adj), maml(ei, ew), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
