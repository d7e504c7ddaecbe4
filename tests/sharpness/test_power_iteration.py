"""Power iteration with deflation on explicit symmetric matrices."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from fgsam.sharpness.power_iteration import power_iteration

F64 = torch.float64


def matrix(spectrum, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=gen, dtype=F64))
    return q @ torch.diag(torch.tensor(spectrum, dtype=F64)) @ q.T


def run(a, k, **kw):
    kw = {"tol": 1e-9, "iters": 5000, **kw}
    return power_iteration(lambda v: a @ v, a.shape[0], k,
                           generator=torch.Generator().manual_seed(1), **kw)


def test_largest_algebraic_after_a_negative_dominant_eigenvalue():
    a = matrix([2.0, 1.0, -0.5, -6.0])
    values, vectors, ok = run(a, 4)
    assert ok
    assert_close(values, torch.tensor([2.0, 1.0, -0.5, -6.0], dtype=F64), rtol=1e-9, atol=1e-9)
    assert_close(a @ vectors, vectors * values, rtol=0, atol=1e-6)


def test_largest_magnitude():
    a = matrix([2.0, 1.0, -0.5, -6.0])
    values, _, ok = run(a, 2, which="LM")
    assert ok
    assert_close(values, torch.tensor([-6.0, 2.0], dtype=F64), rtol=1e-9, atol=1e-9)


def test_zero_operator_converges_to_zero():
    values, vectors, ok = run(torch.zeros(3, 3, dtype=F64), 2)
    assert ok and torch.equal(values, torch.zeros(2, dtype=F64))
    assert_close(vectors.T @ vectors, torch.eye(2, dtype=F64))


def test_reports_non_convergence():
    _, _, ok = run(matrix([1.0, 0.99, 0.1]), 1, iters=2)
    assert not ok
