"""The sparse softmax/sum aliases (PyG's softmax and scatter)."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from fgsam.nn.models import edge_softmax, edge_sum


def test_softmax_matches_a_per_node_loop():
    g = torch.Generator().manual_seed(0)
    n, e, h = 7, 30, 3
    index = torch.randint(0, n - 1, (e,), generator=g)  # node n-1 gets no edge
    scores = torch.randn(e, h, generator=g, dtype=torch.float64) * 20
    alpha = edge_softmax(scores, index, n)
    for node in range(n):
        sel = index == node
        if sel.any():
            assert_close(alpha[sel], torch.softmax(scores[sel], 0), rtol=1e-12, atol=1e-14)
    assert torch.isfinite(alpha).all()


def test_huge_scores_do_not_overflow():
    scores = torch.tensor([1000.0, 1001.0, -1000.0])
    alpha = edge_softmax(scores, torch.tensor([0, 0, 1]), 2)
    assert_close(alpha, torch.tensor([1 / (1 + torch.e), torch.e / (1 + torch.e), 1.0]))


def test_gradients_match_the_dense_softmax():
    scores = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 1, 0, 1, 1, 0])
    weights = torch.randn(6, 2, dtype=torch.float64)
    (edge_softmax(scores, index, 2) * weights).sum().backward()
    ref = scores.detach().clone().requires_grad_()
    total = sum((torch.softmax(ref[index == k], 0) * weights[index == k]).sum() for k in (0, 1))
    total.backward()
    assert_close(scores.grad, ref.grad, rtol=1e-12, atol=1e-14)


def test_sum_into_target_nodes():
    values = torch.arange(12.0).view(4, 3)
    out = edge_sum(values, torch.tensor([2, 0, 2, 2]), 4)
    expected = torch.stack([values[1], torch.zeros(3), values[0] + values[2] + values[3],
                            torch.zeros(3)])
    assert_close(out, expected, rtol=0, atol=0)


def test_aliases_return_exactly_pyg_softmax_and_scatter():
    from torch_geometric.utils import scatter, softmax

    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, 5, (40,), generator=g)  # node 5 gets no edge
    scores = torch.randn(40, 3, generator=g)
    assert torch.equal(edge_softmax(scores, index, 6), softmax(scores, index, num_nodes=6))
    assert torch.equal(edge_sum(scores, index, 6), scatter(scores, index, 0, 6, reduce="sum"))
