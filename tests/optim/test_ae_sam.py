"""AE-SAM against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import AESAM, SAM
from tests.optim.helpers import (
    EPS,
    LR,
    RHO,
    TIGHT,
    W0,
    A,
    assert_grad_scaler_matches_unscaled,
    assert_same_runs,
    norm,
    weights,
)

# L_t(w) = ½ wᵀAw + b_tᵀw over w = [w1; w2]: b_t plays the part of minibatch noise, so
# that the squared gradient norm goes up and down and both kinds of step happen.
NOISE = torch.randn(12, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def setup(cls=AESAM, base=torch.optim.SGD, **kwargs):
    w1 = torch.nn.Parameter(W0[:2].clone())
    w2 = torch.nn.Parameter(W0[2:].clone())
    opt = cls([w1, w2], base, lr=LR, **kwargs)
    calls = []

    def closure_at(t: int):
        def closure():
            calls.append(t)
            w = torch.cat([w1, w2])
            return 0.5 * w @ A @ w + NOISE[t] @ w

        return closure

    return (w1, w2), opt, closure_at, calls


def at_step(closure_at, t: int):
    return closure_at(t)


def by_hand(steps: int, delta: float, c_of_t) -> tuple[torch.Tensor, list[bool]]:
    w, mean, var, decisions = W0.clone(), 0.0, 0.0, []
    for t in range(steps):
        g = A @ w + NOISE[t]
        sq = float(norm(g)) ** 2
        mean = delta * mean + (1 - delta) * sq
        var = delta * var + (1 - delta) * (sq - mean) ** 2
        sam = sq >= mean + c_of_t(t) * math.sqrt(var)
        decisions.append(sam)
        d = A @ (w + RHO * g / (norm(g) + EPS)) + NOISE[t] if sam else g
        w = w - LR * d
    return w, decisions


def test_twelve_steps_by_hand_with_the_threshold_schedule():
    ws, opt, closure_at, calls = setup(rho=RHO, delta=0.5, c_start=-1.0, c_end=1.0,
                                       total_steps=8)
    for t in range(12):
        opt.step(closure_at(t))
    expected, decisions = by_hand(12, 0.5, lambda t: -1.0 + 2.0 * min(t / 8, 1.0))
    assert True in decisions[3:] and False in decisions  # both kinds, interleaved
    assert [calls.count(t) for t in range(12)] == [2 if s else 1 for s in decisions]
    assert opt.global_state["sam_steps"] == sum(decisions)
    assert_close(weights(ws), expected, **TIGHT)


def test_default_decay_and_fixed_threshold_by_hand():
    ws, opt, closure_at, _ = setup(rho=RHO, c_start=0.0, c_end=0.0)  # delta = 0.9
    for t in range(12):
        opt.step(closure_at(t))
    expected, decisions = by_hand(12, 0.9, lambda t: 0.0)
    assert False in decisions
    assert_close(weights(ws), expected, **TIGHT)


def test_running_statistics_by_hand():
    _, opt, closure_at, _ = setup(rho=RHO)
    opt.step(closure_at(0))
    sq = float(norm(A @ W0 + NOISE[0])) ** 2
    assert opt.global_state["ae_mean"] == pytest.approx(0.1 * sq, rel=1e-13)
    assert opt.global_state["ae_var"] == pytest.approx(0.1 * (0.9 * sq) ** 2, rel=1e-13)


def test_threshold_schedule():
    _, opt, _, _ = setup(c_start=-1.0, c_end=1.0, total_steps=100)
    assert [opt.threshold(t) for t in (0, 25, 50, 100, 500)] == [-1.0, -0.5, 0.0, 1.0, 1.0]
    _, no_horizon, _, _ = setup(c_start=-1.0, c_end=1.0)
    assert no_horizon.threshold(0) == no_horizon.threshold(10**6) == 0.0


def test_minus_infinite_threshold_is_sam_bitwise():
    ae_sam = setup(rho=RHO, c_start=-math.inf, c_end=-math.inf)[:3]
    assert_same_runs(ae_sam, setup(SAM, rho=RHO)[:3], steps=6, closure_at=at_step)


def test_plus_infinite_threshold_is_the_base_optimizer_bitwise():
    ws, opt, closure_at, calls = setup(rho=RHO, c_start=math.inf, c_end=math.inf)
    w = torch.nn.Parameter(W0.clone())
    sgd = torch.optim.SGD([w], lr=LR)
    for t in range(6):
        opt.step(closure_at(t))
        sgd.zero_grad()
        (0.5 * w @ A @ w + NOISE[t] @ w).backward()
        sgd.step()
    assert calls == list(range(6))  # one pass per step
    assert opt.global_state["sam_steps"] == 0
    assert_close(weights(ws), w.detach(), rtol=0, atol=0)


def test_manual_steps_are_refused():
    _, opt, _, _ = setup()
    with pytest.raises(NotImplementedError, match="manual steps"):
        opt.first_step()


def test_ae_sam_converges_on_a_quadratic():
    w = torch.nn.Parameter(W0.clone())
    opt = AESAM([w], torch.optim.SGD, lr=LR, rho=RHO, total_steps=200)
    losses = [float(opt.step(lambda: 0.5 * w @ A @ w)) for _ in range(200)]
    assert losses[-1] < 1e-3 * losses[0]
    assert 0 < opt.global_state["sam_steps"] < 200


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"delta": 1.0}, "delta"), ({"delta": -0.1}, "delta"), ({"c_start": float("nan")}, "c_start"),
     ({"c_end": math.inf}, "c_start and c_end"), ({"total_steps": 0}, "total_steps")],
)
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_the_threshold():
    _, opt, _, _ = setup(total_steps=50)
    assert repr(opt).startswith("AESAM(base=SGD") and "total_steps=50" in repr(opt)


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    assert_grad_scaler_matches_unscaled(lambda: setup(rho=RHO, delta=0.5, total_steps=8)[:3],
                                        closure_at=at_step)
