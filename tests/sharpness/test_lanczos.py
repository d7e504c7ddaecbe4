"""Lanczos with full reorthogonalisation on explicit symmetric matrices."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from fgsam.sharpness.lanczos import lanczos

F64 = torch.float64


def matrix(spectrum, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=gen, dtype=F64))
    return q @ torch.diag(torch.tensor(spectrum, dtype=F64)) @ q.T


def run(a, k, **kw):
    kw = {"tol": 1e-10, "iters": 500, **kw}
    calls = []

    def matvec(v):
        calls.append(1)
        return a @ v

    out = lanczos(matvec, a.shape[0], k, generator=torch.Generator().manual_seed(1), **kw)
    return (*out, len(calls))


def test_well_separated_top_eigenvalues_in_few_steps():
    spectrum = [10.0, 5.0, 2.5, *torch.linspace(0.0, 1.0, 197).tolist()]
    a = matrix(spectrum)
    values, vectors, ok, calls = run(a, 3)
    assert ok and calls < 100
    assert_close(values, torch.tensor([10.0, 5.0, 2.5], dtype=F64), rtol=1e-9, atol=0)
    assert_close(a @ vectors, vectors * values, rtol=0, atol=1e-6)


def test_full_dimension_is_exact():
    a = matrix([3.0, -1.0, 0.25, 2.0, -7.0])
    values, _, ok, calls = run(a, 5, which="LM")
    assert ok and calls == 5
    assert_close(values, torch.tensor([-7.0, 3.0, 2.0, -1.0, 0.25], dtype=F64), rtol=1e-10,
                 atol=1e-12)


def test_restarts_find_a_repeated_eigenvalue_and_a_low_rank_spectrum():
    values, _, ok, _ = run(matrix([6.0, 6.0, 6.0, 1.0, 0.5, 0.0, 0.0, 0.0]), 4)
    assert ok
    assert_close(values, torch.tensor([6.0, 6.0, 6.0, 1.0], dtype=F64), rtol=1e-9, atol=1e-9)
    # Rank 2 in 50 dimensions: two blocks of two steps and one more, not 50 steps.
    values, _, ok, calls = run(matrix([4.0, -1.0] + [0.0] * 48), 2)
    assert ok and calls < 10
    assert_close(values, torch.tensor([4.0, 0.0], dtype=F64), rtol=1e-9, atol=1e-9)


def test_reports_non_convergence():
    a = matrix(torch.linspace(0.0, 1.0, 100).tolist())
    _, _, ok, calls = run(a, 1, iters=4)
    assert not ok and calls == 4
