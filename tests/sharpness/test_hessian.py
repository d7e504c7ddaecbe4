"""HessianOperator against the Hessian built explicitly by torch.autograd.functional."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.sharpness import HessianOperator

F64 = torch.float64


def test_products_match_the_explicit_hessian_of_a_nonquadratic_loss():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=gen, dtype=F64)
    a = torch.randn(4, 3, generator=gen, dtype=F64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=F64, requires_grad=True)
    c = torch.randn(2, 2, generator=gen, dtype=F64, requires_grad=True)  # linear: no curvature
    unused = torch.randn(5, generator=gen, dtype=F64, requires_grad=True)

    def loss(a, b, c, unused):
        return torch.tanh(x @ a.T + b).pow(2).sum() + c.sum()

    hessian = HessianOperator(lambda: loss(a, b, c, unused), [a, b, c, unused])
    blocks = torch.autograd.functional.hessian(loss, (a, b, c, unused))
    sizes = [t.numel() for t in (a, b, c, unused)]
    explicit = torch.cat(
        [torch.cat([blk.reshape(r, s) for blk, s in zip(row, sizes)], 1)
         for row, r in zip(blocks, sizes)]
    )
    assert hessian.numel == sum(sizes) == 25
    for v in torch.eye(hessian.numel, dtype=F64):
        assert_close(hessian(v), explicit @ v, rtol=1e-12, atol=1e-12)
    assert hessian.calls == 25
    assert float(hessian.loss) == pytest.approx(float(loss(a, b, c, unused).detach()), rel=1e-15)


def test_flatten_and_unflatten_round_trip():
    p = [torch.zeros(2, 3, requires_grad=True), torch.zeros(4, requires_grad=True)]
    hessian = HessianOperator(lambda: (p[0] ** 2).sum() + (p[1] ** 2).sum(), p)
    v = torch.arange(10.0)
    pieces = hessian.unflatten(v)
    assert [t.shape for t in pieces] == [(2, 3), (4,)]
    assert torch.equal(pieces[0], torch.arange(6.0).reshape(2, 3))
    assert torch.equal(hessian.flatten(pieces), v)
    assert_close(hessian(v), 2 * v)
    with pytest.raises(ValueError, match=r"vector must have shape \(10,\)"):
        hessian(torch.zeros(9))
    assert repr(hessian).startswith("HessianOperator(numel=10, tensors=2, dtype=torch.float32")


def test_loss_not_depending_on_params_is_an_error():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="does not depend on params"):
        HessianOperator(lambda: torch.tensor(1.0), [w])


def test_closure_must_return_a_scalar():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"must return the loss .* got Tensor of shape \(3,\)"):
        HessianOperator(lambda: w * 2, [w])
    with pytest.raises(ValueError, match="closure must be callable"):
        HessianOperator(None, [w])
