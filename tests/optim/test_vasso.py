"""VaSSO against hand computations (ALGORITHMS.md §4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, VaSSO

# L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that the norm is global.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def setup(cls=VaSSO, **kwargs):
    w1 = torch.nn.Parameter(W0[:2].clone())
    w2 = torch.nn.Parameter(W0[2:].clone())
    opt = cls([w1, w2], torch.optim.SGD, lr=LR, **kwargs)

    def closure():
        w = torch.cat([w1, w2])
        return 0.5 * w @ A @ w

    return (w1, w2), opt, closure


def weights(ws) -> torch.Tensor:
    return torch.cat([w.detach() for w in ws])


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
    ws, opt, closure = setup(rho=RHO, theta=1.0)
    ws_sam, sam, closure_sam = setup(SAM, rho=RHO)
    for _ in range(5):
        assert torch.equal(opt.step(closure), sam.step(closure_sam))
    assert torch.equal(weights(ws), weights(ws_sam))


def test_manual_steps_equal_the_closure_step():
    ws, opt, closure = setup(rho=RHO)
    ws_manual, manual, closure_manual = setup(rho=RHO)
    for _ in range(3):
        opt.step(closure)
        closure_manual().backward()
        manual.first_step(zero_grad=True)
        closure_manual().backward()
        manual.second_step(zero_grad=True)
    assert torch.equal(weights(ws), weights(ws_manual))


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
    ws, opt, closure = setup(rho=RHO)
    losses = [float(opt.step(closure)) for _ in range(200)]
    assert losses[-1] < 1e-3 * losses[0]
    assert norm(weights(ws)) < 2 * RHO


@pytest.mark.parametrize("theta", [-0.1, 1.5, float("nan")])
def test_bad_theta_is_named(theta):
    with pytest.raises(ValueError, match="theta"):
        setup(theta=theta)


def test_repr_shows_theta():
    _, opt, _ = setup(theta=0.8)
    assert repr(opt).startswith("VaSSO(base=SGD") and "theta=0.8" in repr(opt)


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
    ws, opt, closure = setup(rho=RHO)
    ws_plain, plain, closure_plain = setup(rho=RHO)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(4):
        opt.step(closure, scaler=scaler)
        scaler.update()
        plain.step(closure_plain)
    assert_close(weights(ws), weights(ws_plain), **TIGHT)
    state, before = copy.deepcopy(opt.state_dict()), weights(ws)
    opt.step(lambda: closure() * float("inf"), scaler=scaler)
    scaler.update()
    assert torch.equal(weights(ws), before) and scaler.get_scale() == 2.0**9
    assert same_state(opt.state_dict(), state)
