"""Hutchinson's Hessian trace against exact traces (docs/algorithms.md §5 oracles)."""

from __future__ import annotations

import pytest
import torch

from fgsam.sharpness import Estimate, hessian_trace


def test_lands_within_three_standard_errors_of_the_exact_trace(problem):
    est = hessian_trace(problem.closure, problem.params, samples=200, generator=0)
    assert isinstance(est, Estimate) and est.samples == 200
    assert est.stderr > 0
    assert abs(est.value - problem.trace) <= 3 * est.stderr


def test_the_error_shrinks_like_one_over_root_samples(problem):
    small = hessian_trace(problem.closure, problem.params, samples=50, generator=1)
    large = hessian_trace(problem.closure, problem.params, samples=450, generator=1)
    # Variance 2 Σ_{i≠j} H_ij² / m: nine times the samples, a third of the error.
    assert 0.2 < large.stderr / small.stderr < 0.5


def test_diagonal_hessian_is_exact_with_zero_error():
    # z_i² = 1 for Rademacher z: a diagonal Hessian has zᵀHz = tr H for every probe.
    d = torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    est = hessian_trace(lambda: 0.5 * (d * w * w).sum(), [w], samples=5)
    assert est.value == pytest.approx(4.5, rel=1e-15) and est.stderr == 0.0


def test_same_seed_same_numbers_and_global_rng_untouched(problem):
    state = torch.get_rng_state()
    a = hessian_trace(problem.closure, problem.params, samples=10, generator=3)
    b = hessian_trace(problem.closure, problem.params, samples=10,
                      generator=torch.Generator().manual_seed(3))
    assert a == b
    assert torch.equal(torch.get_rng_state(), state)


def test_float32_parameters():
    a = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    w = torch.ones(2, requires_grad=True)
    est = hessian_trace(lambda: 0.5 * w @ a @ w, [w], samples=100)
    assert abs(est.value - 5.0) <= 3 * est.stderr + 1e-5


@pytest.mark.parametrize("samples", [0, 1, 2.5])
def test_samples_must_give_a_standard_error(samples):
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="samples must be"):
        hessian_trace(lambda: (w**2).sum(), [w], samples=samples)
