"""VaSSO against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, VaSSO
from tests.optim.helpers import (
    EPS,
    LR,
    RHO,
    TIGHT,
    W0,
    A,
    assert_grad_scaler_matches_unscaled,
    assert_manual_steps_match,
    assert_same_runs,
    assert_settles_on_the_quadratic,
    norm,
    quadratic,
    split_problem,
    weights,
)


def setup(cls=VaSSO, **kwargs):
    """L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that the norm is global."""
    return split_problem(cls, quadratic(A), **kwargs)


def by_hand(steps: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    w, d = W0.clone(), None
    for _ in range(steps):
        g = A @ w
        d = g.clone() if d is None else (1 - theta) * d + theta * g
        w = w - LR * (A @ (w + RHO * d / (norm(d) + EPS)))
    return w, d


@pytest.mark.parametrize("steps", [1, 3])
def test_steps_by_hand(steps):
    theta = 0.9
    ws, opt, closure = setup(rho=RHO, theta=theta)
    for _ in range(steps):
        opt.step(closure)
    expected_w, expected_d = by_hand(steps, theta)
    assert_close(weights(ws), expected_w, **TIGHT)
    stored = torch.cat([opt.state[w]["vasso_d"] for w in ws])
    assert_close(stored, expected_d, **TIGHT)


def test_small_theta_keeps_the_first_direction_longer():
    ws, opt, closure = setup(rho=RHO, theta=0.1)
    for _ in range(3):
        opt.step(closure)
    assert_close(weights(ws), by_hand(3, 0.1)[0], **TIGHT)


def test_theta_one_is_sam_bitwise():
    assert_same_runs(setup(rho=RHO, theta=1.0), setup(SAM, rho=RHO), steps=5)


def test_manual_steps_equal_the_closure_step():
    assert_manual_steps_match(lambda: setup(rho=RHO), steps=3)


def test_non_finite_loss_raises_and_keeps_the_average_clean():
    ws, opt, closure = setup(rho=RHO)
    opt.step(closure)
    saved_w = weights(ws)
    saved_d = torch.cat([opt.state[w]["vasso_d"] for w in ws]).clone()
    with pytest.raises(FloatingPointError, match="ascent"):
        opt.step(lambda: closure() * float("nan"))
    assert torch.equal(weights(ws), saved_w)
    assert torch.equal(torch.cat([opt.state[w]["vasso_d"] for w in ws]), saved_d)


def test_vasso_converges_on_a_quadratic():
    assert_settles_on_the_quadratic(setup(rho=RHO))


@pytest.mark.parametrize("theta", [-0.1, 1.5, float("nan")])
def test_bad_theta_is_named(theta):
    with pytest.raises(ValueError, match="theta"):
        setup(theta=theta)


def test_repr_shows_theta():
    _, opt, _ = setup(theta=0.8)
    assert repr(opt).startswith("VaSSO(base=SGD") and "theta=0.8" in repr(opt)


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    assert_grad_scaler_matches_unscaled(lambda: setup(rho=RHO))
