"""GSAM against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import GSAM, SAM
from tests.optim.helpers import least_squares_reduction

A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, ALPHA, EPS = 0.1, 0.05, 0.4, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def quadratic(a, b):
    return lambda: 0.5 * torch.cat([a, b]) @ A @ torch.cat([a, b])


def unit(v):
    return v / (math.sqrt(float(v @ v)) + EPS)


def hand_step(w, alpha=ALPHA):
    g = A @ w
    g_s = A @ (w + RHO * unit(g))
    u = unit(g_s)
    d = g_s - alpha * (g - (g @ u) * u)
    return w - LR * d


def run(steps=1, scaler=None, **kwargs):
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = GSAM([a, b], torch.optim.SGD, lr=LR, **kwargs)
    for _ in range(steps):
        opt.step(quadratic(a, b), scaler=scaler)
        if scaler is not None:
            scaler.update()
    return torch.cat([a, b]).detach()


def test_two_gsam_steps_by_hand():
    expected = hand_step(hand_step(W0))
    assert_close(run(steps=2, rho=RHO, alpha=ALPHA), expected, **TIGHT)


def test_default_alpha_is_the_papers():
    assert_close(run(rho=RHO), hand_step(W0, alpha=0.4), **TIGHT)


def test_alpha_zero_is_sam_exactly():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    twin.load_state_dict(net.state_dict())
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    gsam = GSAM(net.parameters(), "adam", alpha=0.0, lr=0.01)
    sam = SAM(twin.parameters(), "adam", lr=0.01)
    for _ in range(5):
        gsam.step(lambda: ((net(x) - y) ** 2).mean())
        sam.step(lambda: ((twin(x) - y) ** 2).mean())
    for p, q in zip(net.parameters(), twin.parameters()):
        assert torch.equal(p, q)


def test_manual_steps_match_closure_steps():
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = GSAM([a, b], torch.optim.SGD, rho=RHO, lr=LR)
    quadratic(a, b)().backward()
    opt.first_step(zero_grad=True)
    quadratic(a, b)().backward()
    opt.second_step(zero_grad=True)
    assert_close(torch.cat([a, b]).detach(), hand_step(W0), **TIGHT)


def test_grad_scaler_gives_the_unscaled_step():
    # The ascent gradient is unscaled, the descent one is not: both must be put alike.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    assert_close(run(steps=2, scaler=scaler, rho=RHO), hand_step(hand_step(W0)), **TIGHT)


def test_unperturbed_group_descends_with_the_perturbed_gradient():
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = GSAM([{"params": [a]}, {"params": [b], "perturb": False}], torch.optim.SGD,
               rho=RHO, lr=LR)
    opt.step(quadratic(a, b))
    g = A @ W0
    eps = torch.zeros(3, dtype=torch.float64)
    eps[:2] = RHO * unit(g[:2])
    g_s = A @ (W0 + eps)
    u = unit(g_s[:2])
    d = g_s.clone()
    d[:2] = g_s[:2] - ALPHA * (g[:2] - (g[:2] @ u) * u)
    assert_close(torch.cat([a, b]).detach(), W0 - LR * d, **TIGHT)


def test_negative_alpha_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        GSAM([torch.nn.Parameter(W0.clone())], "sgd", alpha=-0.1, lr=0.1)


def test_converges_on_least_squares():
    reduction = least_squares_reduction(
        lambda params: GSAM(params, "sgd", rho=0.05, lr=0.1), steps=200
    )
    assert reduction < 1e-3
