"""Momentum-SAM against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import MomentumSAM, create_optimizer
from tests.optim.helpers import least_squares_reduction

# ½ wᵀAw over w = (a, b): two tensors, so the momentum norm must be global.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, MU, EPS = 0.1, 0.3, 0.9, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def params():
    return torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())


def quadratic(a, b):
    return lambda: 0.5 * torch.cat([a, b]) @ A @ torch.cat([a, b])


def norm(v):
    return math.sqrt(float(v @ v))


def test_three_sgd_momentum_steps_by_hand():
    a, b = params()
    opt = MomentumSAM([a, b], torch.optim.SGD, rho=RHO, lr=LR, momentum=MU)
    losses = [opt.step(quadratic(a, b)) for _ in range(3)]

    w, v, expected_losses = W0.clone(), None, []
    for _ in range(3):
        eps = torch.zeros(3, dtype=torch.float64) if v is None else -RHO * v / (norm(v) + EPS)
        expected_losses.append(0.5 * (w + eps) @ A @ (w + eps))  # the loss at w + eps
        g = A @ (w + eps)
        v = g.clone() if v is None else MU * v + g  # torch's SGD: first buffer = gradient
        w = w - LR * v
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)
    assert_close(torch.stack(losses), torch.stack(expected_losses), **TIGHT)


def test_two_adam_steps_use_exp_avg_by_hand():
    a, b = params()
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    opt = MomentumSAM([a, b], "adam", rho=RHO, lr=LR, betas=(beta1, beta2), eps=adam_eps)
    for _ in range(2):
        opt.step(quadratic(a, b))

    w = W0.clone()
    m = torch.zeros(3, dtype=torch.float64)
    s = torch.zeros(3, dtype=torch.float64)
    for t in (1, 2):
        eps = -RHO * m / (norm(m) + EPS) if t > 1 else torch.zeros(3, dtype=torch.float64)
        g = A @ (w + eps)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
        w = w - LR * m_hat / (s_hat.sqrt() + adam_eps)
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)


def test_per_group_rho_and_unperturbed_group():
    a, b = params()
    opt = MomentumSAM(
        [{"params": [a], "rho": 0.2}, {"params": [b], "perturb": False}],
        "sgd", rho=RHO, lr=LR, momentum=MU,
    )
    seen = []

    def closure():
        seen.append(torch.cat([a, b]).detach().clone())
        return quadratic(a, b)()

    opt.step(closure)
    v = A @ W0  # the buffer after the first (plain) step
    w1 = W0 - LR * v
    opt.step(closure)
    # Only a moves, by 0.2 along -v/‖v‖ with the norm over the perturbed group only.
    va = v[:2]
    expected = w1.clone()
    expected[:2] -= 0.2 * va / (norm(va) + EPS)
    assert_close(seen[1], expected, **TIGHT)


@pytest.mark.parametrize(
    ("base", "kwargs"), [("sgd", {}), ("sgd", {"momentum": 0.0}), ("adagrad", {})]
)
def test_base_optimizer_without_momentum_is_refused(base, kwargs):
    w = torch.nn.Parameter(W0.clone())
    with pytest.raises(ValueError, match="momentum"):
        MomentumSAM([w], base, lr=0.1, **kwargs)


def test_single_pass_updates_batchnorm_statistics():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    x = torch.randn(16, 3)
    opt = create_optimizer(model, "msam", lr=0.01)
    calls = []

    def closure():
        calls.append(1)
        return model(x).pow(2).mean()

    for _ in range(3):
        opt.step(closure)
    assert len(calls) == 3  # one forward/backward pass per step
    assert int(model[1].num_batches_tracked) == 3


def test_converges_on_least_squares():
    reduction = least_squares_reduction(
        lambda params: MomentumSAM(params, "sgd", rho=0.05, lr=0.05, momentum=0.9), steps=300
    )
    assert reduction < 1e-3
