from __future__ import annotations

import gc

import pytest
import torch
from torch.func import functional_call

from fgsam.nn import SparseInputLinear, csr_features, csr_matmul, csr_transpose
from fgsam.nn import sparse_linear as module


def sparse_rows(n: int = 40, f: int = 30, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, f, generator=gen, dtype=torch.float64)
    return x * (torch.rand(n, f, generator=gen) < 0.15)


def test_by_hand():
    x = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]], dtype=torch.float64)
    lin = SparseInputLinear(3, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0, 2.0], [0.5, 0.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.25, -1.0]))
    out = lin(csr_features(x))
    torch.testing.assert_close(out, torch.tensor([[-1.75, -1.0], [7.25, 2.5]],
                                                 dtype=torch.float64), rtol=0, atol=0)
    out.backward(torch.tensor([[1.0, 0.0], [2.0, 1.0]], dtype=torch.float64))
    # dL/dW = G^T X, dL/db = the column sums of G
    torch.testing.assert_close(lin.weight.grad, torch.tensor(
        [[2.0, 2.0, 6.0], [1.0, 0.0, 3.0]], dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(lin.bias.grad, torch.tensor([3.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("bias", [True, False])
def test_sparse_input_gives_the_dense_output_and_gradients(layout, bias):
    x = sparse_rows()
    lin = SparseInputLinear(30, 5, bias=bias).double()
    dense = lin(x)
    assert torch.equal(dense, torch.nn.functional.linear(x, lin.weight, lin.bias))  # untouched
    g = torch.randn(dense.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    expected = torch.autograd.grad(dense, list(lin.parameters()), g)
    sparse_x = csr_features(x) if layout == "csr" else x.to_sparse_coo()
    out = lin(sparse_x)
    torch.testing.assert_close(out, dense, rtol=1e-12, atol=1e-12)
    for got, want in zip(torch.autograd.grad(out, list(lin.parameters()), g), expected,
                         strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_second_order_gradients_match_the_dense_layer():
    # MAML differentiates through the inner step's weight gradient
    x = sparse_rows()
    lin = SparseInputLinear(30, 4).double()

    def outer(inp):
        params = dict(lin.named_parameters())
        inner = functional_call(lin, params, (inp,)).tanh().pow(2).sum()
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        stepped = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads, strict=True)}
        loss = functional_call(lin, stepped, (inp,)).sin().sum()
        return torch.autograd.grad(loss, list(params.values()))

    for got, want in zip(outer(csr_features(x)), outer(x), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_the_transpose_is_built_once_per_matrix_and_freed_with_it():
    x = csr_features(sparse_rows())
    t = csr_transpose(x)
    assert csr_transpose(x) is t
    torch.testing.assert_close(t.to_dense(), x.to_dense().t(), rtol=0, atol=0)
    key = id(x)
    assert key in module._TRANSPOSES
    del x, t
    gc.collect()
    assert key not in module._TRANSPOSES


def test_features_that_need_a_gradient_are_refused():
    x = csr_features(sparse_rows()).requires_grad_()
    with pytest.raises(ValueError, match=r"gives sparse inputs no gradient, and x requires one"):
        SparseInputLinear(30, 2).double()(x)


def test_the_gcn_encoder_keeps_its_parameters_and_initialisation():
    from torch_geometric.nn import GCNConv

    from fgsam.fewshot.encoder import GCNEncoder

    torch.manual_seed(5)
    enc = GCNEncoder(30, 8, 4)
    after = torch.rand(1)
    torch.manual_seed(5)
    ref = GCNConv(30, 8, normalize=False), GCNConv(8, 4, normalize=False)
    assert torch.equal(torch.rand(1), after)  # the global stream as without the swap
    assert isinstance(enc.convs[0].lin, SparseInputLinear)
    assert list(enc.state_dict()) == [f"convs.{i}.{k}" for i, c in enumerate(ref)
                                      for k in c.state_dict()]
    for conv, want in zip(enc.convs, ref, strict=True):
        for a, b in zip(conv.parameters(), want.parameters(), strict=True):
            assert torch.equal(a, b)


def test_csr_matmul_is_the_product_to_the_third_derivative_without_re_sorting():
    a_dense = sparse_rows(12, 9)
    a = csr_features(a_dense)
    b = torch.randn(9, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64,
                    requires_grad=True)

    def third(mm):  # d/db of sum of the second derivative's entries, through three backwards
        out = mm(b).sin().sum()
        (g,) = torch.autograd.grad(out, b, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), b, create_graph=True)
        return out, g, h, torch.autograd.grad(h.sum(), b)[0]

    for got, want in zip(third(lambda v: csr_matmul(a, v)), third(lambda v: a_dense @ v),
                         strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    csr_transpose(a)  # built by the first call: the backward passes only reuse it
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        third(lambda v: csr_matmul(a, v))
    names = {e.name for e in prof.events()}
    assert "aten::mm" in names or "aten::addmm" in names
    assert not names & {"aten::_to_sparse_csr", "aten::sort"}, names & {"aten::sort"}
    # torch's own derivative of the product does transpose and re-sort
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        third(lambda v: a @ v)
    assert "aten::_to_sparse_csr" in {e.name for e in prof.events()}
