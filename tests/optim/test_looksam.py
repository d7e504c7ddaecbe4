"""LookSAM against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, LookSAM
from tests.optim.helpers import (
    EPS,
    LR,
    RHO,
    TIGHT,
    W0,
    A,
    assert_grad_scaler_matches_unscaled,
    assert_same_runs,
    assert_settles_on_the_quadratic,
    norm,
    quadratic,
    split_problem,
    weights,
)


def setup(cls=LookSAM, **kwargs):
    """L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that norms and inner products are
    global; also returns the list of closure calls."""
    calls: list = []
    return (*split_problem(cls, quadratic(A), calls=calls, **kwargs), calls)


def by_hand(steps: int, k: int, alpha: float) -> torch.Tensor:
    w, g_v = W0.clone(), None
    for t in range(steps):
        g = A @ w
        if t % k == 0:
            unit = g / (norm(g) + EPS)
            g_s = A @ (w + RHO * unit)
            g_v = g_s - (g_s @ unit) * unit
            d = g_s
        else:
            d = g + alpha * norm(g) / (norm(g_v) + EPS) * g_v
        w = w - LR * d
    return w


@pytest.mark.parametrize(("k", "steps"), [(2, 3), (3, 5), (5, 7)])
def test_steps_by_hand(k, steps):
    ws, opt, closure, _ = setup(rho=RHO, k=k)  # alpha = 0.7
    for _ in range(steps):
        opt.step(closure)
    assert_close(weights(ws), by_hand(steps, k, 0.7), **TIGHT)


def test_stored_component_is_orthogonal_to_the_gradient():
    ws, opt, closure, _ = setup(rho=RHO)
    opt.step(closure)
    g = A @ W0
    g_v = torch.cat([opt.state[w]["looksam_gv"] for w in ws])
    # Orthogonal up to the 1e-12 of the normalisation.
    assert abs(float(g_v @ g)) < 1e-9 * float(norm(g_v) * norm(g))
    assert float(norm(g_v)) > 0


def test_every_kth_step_takes_two_passes():
    _, opt, closure, calls = setup(rho=RHO)  # k = 5
    per_step = []
    for _ in range(11):
        before = len(calls)
        opt.step(closure)
        per_step.append(len(calls) - before)
    assert per_step == [2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2]


def test_k_one_is_sam_bitwise():
    assert_same_runs(setup(rho=RHO, k=1)[:3], setup(SAM, rho=RHO)[:3], steps=5)


def test_alpha_zero_takes_plain_steps_between_sam_steps():
    ws, opt, closure, _ = setup(rho=RHO, k=3, alpha=0.0)
    for _ in range(3):
        opt.step(closure)
    w = W0.clone()
    for t in range(3):
        g = A @ w
        w = w - LR * (A @ (w + RHO * g / (norm(g) + EPS)) if t == 0 else g)
    assert_close(weights(ws), w, **TIGHT)


def test_manual_steps_are_refused():
    _, opt, _, _ = setup()
    assert not LookSAM.manual_steps
    with pytest.raises(NotImplementedError, match="manual steps"):
        opt.first_step()


def test_looksam_converges_on_a_quadratic():
    assert_settles_on_the_quadratic(setup(rho=RHO)[:3])


@pytest.mark.parametrize(("kwargs", "name"), [({"k": 0}, "k"), ({"k": 2.5}, "k"),
                                              ({"alpha": -0.1}, "alpha")])
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_k_and_alpha():
    _, opt, _, _ = setup(k=4)
    assert repr(opt).startswith("LookSAM(base=SGD") and "k=4" in repr(opt)


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    # g_v is a small difference of large vectors: roundoff differs with the scale.
    assert_grad_scaler_matches_unscaled(lambda: setup(rho=RHO, k=2)[:3],
                                        tolerance={"rtol": 1e-9, "atol": 1e-12})
