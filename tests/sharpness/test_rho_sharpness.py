"""Worst-case and average-case ρ-sharpness against closed forms on quadratics."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.sharpness import rho_sharpness

F64 = torch.float64


def spd(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    b = torch.randn(n, n, generator=gen, dtype=F64)
    return b @ b.T / n + 0.1 * torch.eye(n, dtype=F64)


def symmetric(n: int = 6, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    b = torch.randn(n, n, generator=gen, dtype=F64)
    return (b + b.T) / 2


@pytest.mark.parametrize("matrix", [spd, symmetric])
def test_worst_case_at_a_stationary_point_is_half_rho2_lambda_max(matrix):
    a = matrix()
    w = torch.zeros(a.shape[0], dtype=F64, requires_grad=True)
    rho = 0.3
    est = rho_sharpness(lambda: 0.5 * w @ a @ w, [w], rho, steps=100)
    exact = 0.5 * rho**2 * float(torch.linalg.eigvalsh(a)[-1])
    assert est.stderr is None
    assert est.value == pytest.approx(exact, rel=1e-6)


def test_worst_case_is_zero_at_a_maximum():
    w = torch.zeros(4, dtype=F64, requires_grad=True)
    est = rho_sharpness(lambda: -(w * w).sum(), [w], rho=0.5, steps=10)
    assert est.value == 0.0


def trust_region_maximum(a: torch.Tensor, g: torch.Tensor, rho: float) -> float:
    """max_{‖δ‖≤ρ} gᵀδ + ½δᵀAδ: δ = (μI − A)⁻¹g with ‖δ‖ = ρ, μ > λ_max, by bisection."""
    lam, q = torch.linalg.eigh(a)
    gq = q.T @ g
    lo, hi = float(lam[-1]) + 1e-12, float(lam[-1]) + float(gq.norm()) / rho + 1.0
    for _ in range(200):
        mu = (lo + hi) / 2
        if float(((gq / (mu - lam)) ** 2).sum()) > rho**2:
            lo = mu
        else:
            hi = mu
    delta = q @ (gq / ((lo + hi) / 2 - lam))
    return float(g @ delta + 0.5 * delta @ a @ delta)


def test_worst_case_away_from_a_stationary_point_solves_the_trust_region_problem():
    a = spd()
    centre = torch.linspace(-1.0, 1.0, 6, dtype=F64)
    w = torch.nn.Parameter(torch.full((6,), 0.2, dtype=F64))
    rho = 0.25
    est = rho_sharpness(lambda: 0.5 * (w - centre) @ a @ (w - centre), [w], rho, steps=100)
    exact = trust_region_maximum(a, a @ (w.detach() - centre), rho)
    assert est.value == pytest.approx(exact, rel=1e-6)


def test_adaptive_worst_case_uses_the_weight_scaled_ball():
    # L = ½(w−c)ᵀA(w−c) at w = c; δ = T u with ‖u‖ ≤ ρ, T = diag(|c| + η):
    # the maximum is ½ρ² λ_max(TAT).
    a, c, eta, rho = spd(), torch.tensor([1.0, -2.0, 0.5, 3.0, -0.1, 1.5], dtype=F64), 0.01, 0.2
    w = torch.nn.Parameter(c.clone())
    est = rho_sharpness(lambda: 0.5 * (w - c) @ a @ (w - c), [w], rho, adaptive=True, eta=eta,
                        steps=100)
    t = torch.diag(c.abs() + eta)
    exact = 0.5 * rho**2 * float(torch.linalg.eigvalsh(t @ a @ t)[-1])
    assert est.value == pytest.approx(exact, rel=1e-6)


def test_worst_case_over_several_tensors_uses_one_global_ball():
    # Two tensors with Hessians diag(5) and diag(2): the global ball puts all of ρ on the first.
    x = torch.zeros(2, dtype=F64, requires_grad=True)
    y = torch.zeros(3, dtype=F64, requires_grad=True)
    est = rho_sharpness(lambda: 2.5 * (x * x).sum() + (y * y).sum(), [x, y], 0.1, steps=100)
    assert est.value == pytest.approx(0.5 * 0.1**2 * 5.0, rel=1e-6)


def test_average_case_is_half_sigma2_trace_within_monte_carlo_error():
    a, sigma, samples = symmetric(), 0.2, 400
    w = torch.nn.Parameter(torch.linspace(-0.5, 0.5, 6, dtype=F64))
    est = rho_sharpness(lambda: 0.5 * w @ a @ w, [w], sigma, mode="average", samples=samples)
    # E[½(w+δ)ᵀA(w+δ) − ½wᵀAw] = ½σ² tr A for δ ~ N(0, σ²I), whatever w.
    exact = 0.5 * sigma**2 * float(torch.diagonal(a).sum())
    assert est.samples == samples and est.stderr > 0
    assert abs(est.value - exact) <= 4 * est.stderr


def test_adaptive_average_case_scales_the_noise_by_the_weights():
    a, sigma, eta = spd(), 0.1, 0.0
    c = torch.tensor([1.0, -2.0, 0.5, 3.0, -0.1, 1.5], dtype=F64)
    w = torch.nn.Parameter(c.clone())
    est = rho_sharpness(lambda: 0.5 * (w - c) @ a @ (w - c), [w], sigma, mode="average",
                        adaptive=True, eta=eta, samples=400)
    t = torch.diag(c.abs())
    exact = 0.5 * sigma**2 * float(torch.diagonal(t @ a @ t).sum())
    assert abs(est.value - exact) <= 4 * est.stderr


@pytest.mark.parametrize("mode", ["worst", "average"])
def test_weights_restored_exactly_and_grads_untouched(mode):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in model.parameters()]
    rho_sharpness(lambda: model(x).pow(2).mean(), model.parameters(), 0.5, mode=mode, steps=5,
                  samples=5)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert all(p.grad is None for p in model.parameters())


def test_weights_restored_when_the_closure_fails():
    w = torch.nn.Parameter(torch.ones(3))
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return (w**2).sum()

    with pytest.raises(RuntimeError, match="boom"):
        rho_sharpness(closure, [w], 0.5, mode="average", samples=5)
    assert torch.equal(w.detach(), torch.ones(3))


@pytest.mark.parametrize("mode", ["worst", "average"])
def test_same_seed_same_numbers_and_global_rng_untouched(mode):
    a = symmetric()
    w = torch.zeros(6, dtype=F64, requires_grad=True)  # zero gradient: a random start

    def run(gen):
        return rho_sharpness(lambda: 0.5 * w @ a @ w, [w], 0.1, mode=mode, steps=3,
                             samples=10, generator=gen)

    state = torch.get_rng_state()
    assert run(5) == run(torch.Generator().manual_seed(5))
    assert run(5) != run(6)
    assert torch.equal(torch.get_rng_state(), state)


def test_float32_parameters():
    a = spd().float()
    w = torch.zeros(6, requires_grad=True)
    est = rho_sharpness(lambda: 0.5 * w @ a @ w, [w], 0.3, steps=100)
    exact = 0.5 * 0.09 * float(torch.linalg.eigvalsh(a.double())[-1])
    assert est.value == pytest.approx(exact, rel=1e-4)
    assert_close(w.detach(), torch.zeros(6), rtol=0, atol=0)


def test_non_finite_loss_at_the_centre_is_an_error():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(FloatingPointError, match="unperturbed weights is nan"):
        rho_sharpness(lambda: (w.sum() * math.nan), [w], 0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rho": -0.1}, "rho must be a finite number >= 0, got -0.1"),
        ({"mode": "best"}, "mode must be one of 'worst', 'average', got 'best'"),
        ({"eta": -1.0}, "eta must be a finite number >= 0"),
        ({"steps": 0}, "steps must be an integer >= 1, got 0"),
        ({"mode": "average", "samples": 1}, "samples must be at least 2"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    w = torch.zeros(3, requires_grad=True)
    kwargs = {"rho": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        rho_sharpness(lambda: (w**2).sum(), [w], **kwargs)


def test_frozen_parameters_are_refused_for_the_worst_case():
    w = torch.zeros(3)
    with pytest.raises(ValueError, match=r"params\[0\] \(shape \(3,\)\) does not require grad"):
        rho_sharpness(lambda: (w**2).sum(), [w], 0.1)
