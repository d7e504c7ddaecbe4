"""AE-SAM against hand computations (ALGORITHMS.md §4)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import AESAM, SAM

# L_t(w) = ½ wᵀAw + b_tᵀw over w = [w1; w2]: b_t plays the part of minibatch noise, so
# that the squared gradient norm goes up and down and both kinds of step happen.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
NOISE = torch.randn(12, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


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


def weights(ws) -> torch.Tensor:
    return torch.cat([w.detach() for w in ws])


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
    ws, opt, closure_at, _ = setup(rho=RHO, c_start=-math.inf, c_end=-math.inf)
    ws_sam, sam, closure_sam, _ = setup(SAM, rho=RHO)
    for t in range(6):
        assert torch.equal(opt.step(closure_at(t)), sam.step(closure_sam(t)))
    assert torch.equal(weights(ws), weights(ws_sam))


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


def same_state(a: dict, b: dict) -> bool:
    """Whether two optimizer state dicts hold the same values."""
    flat_a = [(k, v) for s in a["state"].values() for k, v in sorted(s.items())]
    flat_b = [(k, v) for s in b["state"].values() for k, v in sorted(s.items())]
    tensors = all(
        ka == kb and (torch.equal(va, vb) if torch.is_tensor(va) else va == vb)
        for (ka, va), (kb, vb) in zip(flat_a, flat_b)
    )
    glob = all(
        torch.equal(v, b["global_state"][k]) if torch.is_tensor(v) else v == b["global_state"][k]
        for k, v in a["global_state"].items()
    )
    return len(flat_a) == len(flat_b) and tensors and glob


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    ws, opt, closure, _ = setup(rho=RHO, delta=0.5, total_steps=8)
    ws_plain, plain, closure_plain, _ = setup(rho=RHO, delta=0.5, total_steps=8)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for t in range(4):
        opt.step(closure(t), scaler=scaler)
        scaler.update()
        plain.step(closure_plain(t))
    assert_close(weights(ws), weights(ws_plain), **TIGHT)
    state, before = copy.deepcopy(opt.state_dict()), weights(ws)
    opt.step(lambda: closure(4)() * float("inf"), scaler=scaler)
    scaler.update()
    assert torch.equal(weights(ws), before) and scaler.get_scale() == 2.0**9
    assert same_state(opt.state_dict(), state)
