"""Friendly SAM against hand computations (ALGORITHMS.md §4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, FriendlySAM

# L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that the norm is global.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def setup(cls=FriendlySAM, **kwargs):
    w1 = torch.nn.Parameter(W0[:2].clone())
    w2 = torch.nn.Parameter(W0[2:].clone())
    opt = cls([w1, w2], torch.optim.SGD, lr=LR, **kwargs)

    def closure():
        w = torch.cat([w1, w2])
        return 0.5 * w @ A @ w

    return (w1, w2), opt, closure


def weights(ws) -> torch.Tensor:
    return torch.cat([w.detach() for w in ws])


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
    ws, opt, closure = setup(rho=RHO, sigma=0.0)
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
    saved = torch.cat([opt.state[w]["fsam_m"] for w in ws]).clone()
    with pytest.raises(FloatingPointError, match="ascent"):
        opt.step(lambda: closure() * float("inf"))
    assert torch.equal(torch.cat([opt.state[w]["fsam_m"] for w in ws]), saved)


def test_friendly_sam_converges_on_a_quadratic():
    ws, opt, closure = setup(rho=RHO)
    losses = [float(opt.step(closure)) for _ in range(200)]
    assert losses[-1] < 1e-3 * losses[0]
    assert norm(weights(ws)) < 2 * RHO


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"sigma": -1.0}, "sigma"), ({"lmbda": 1.5}, "lmbda")]
)
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_sigma_and_lambda():
    _, opt, _ = setup()
    assert repr(opt).startswith("FriendlySAM(base=SGD") and "sigma=1.0" in repr(opt)


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
