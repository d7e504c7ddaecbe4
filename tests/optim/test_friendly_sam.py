"""Friendly SAM against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, FriendlySAM
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


def setup(cls=FriendlySAM, **kwargs):
    """L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that the norm is global."""
    return split_problem(cls, quadratic(A), **kwargs)


def by_hand(steps: int, sigma: float, lmbda: float) -> tuple[torch.Tensor, torch.Tensor]:
    w, m = W0.clone(), None
    for _ in range(steps):
        g = A @ w
        if m is None:  # the first step is a SAM step and starts the average at g
            u, m = g, g.clone()
        else:
            u = g - sigma * m
            m = lmbda * m + (1 - lmbda) * g
        w = w - LR * (A @ (w + RHO * u / (norm(u) + EPS)))
    return w, m


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_steps_by_hand(steps):
    ws, opt, closure = setup(rho=RHO)  # sigma = 1, lmbda = 0.9
    for _ in range(steps):
        opt.step(closure)
    expected_w, expected_m = by_hand(steps, 1.0, 0.9)
    assert_close(weights(ws), expected_w, **TIGHT)
    assert_close(torch.cat([opt.state[w]["fsam_m"] for w in ws]), expected_m, **TIGHT)


def test_other_sigma_and_lambda_by_hand():
    ws, opt, closure = setup(rho=0.2, sigma=0.5, lmbda=0.6)
    for _ in range(3):
        opt.step(closure)
    w, m = W0.clone(), None
    for _ in range(3):
        g = A @ w
        u = g if m is None else g - 0.5 * m
        m = g.clone() if m is None else 0.6 * m + 0.4 * g
        w = w - LR * (A @ (w + 0.2 * u / (norm(u) + EPS)))
    assert_close(weights(ws), w, **TIGHT)


def test_sigma_zero_is_sam_bitwise():
    assert_same_runs(setup(rho=RHO, sigma=0.0), setup(SAM, rho=RHO), steps=5)


def test_manual_steps_equal_the_closure_step():
    assert_manual_steps_match(lambda: setup(rho=RHO), steps=3)


def test_non_finite_loss_raises_and_keeps_the_average_clean():
    ws, opt, closure = setup(rho=RHO)
    opt.step(closure)
    saved = torch.cat([opt.state[w]["fsam_m"] for w in ws]).clone()
    with pytest.raises(FloatingPointError, match="ascent"):
        opt.step(lambda: closure() * float("inf"))
    assert torch.equal(torch.cat([opt.state[w]["fsam_m"] for w in ws]), saved)


def test_friendly_sam_converges_on_a_quadratic():
    assert_settles_on_the_quadratic(setup(rho=RHO))


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"sigma": -1.0}, "sigma"), ({"lmbda": 1.5}, "lmbda")]
)
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_sigma_and_lambda():
    _, opt, _ = setup()
    assert repr(opt).startswith("FriendlySAM(base=SGD") and "sigma=1.0" in repr(opt)


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    assert_grad_scaler_matches_unscaled(lambda: setup(rho=RHO))


def test_lmbda_is_a_deprecated_alias_of_lam():
    with pytest.warns(DeprecationWarning, match="lam"):
        _, old, _ = setup(lmbda=0.6)
    _, new, _ = setup(lam=0.6)
    assert old.lam == new.lam == old.lmbda == 0.6
