"""m-RWP against hand computations (docs/algorithms.md §4), with a fixed generator."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import RWP
from fgsam.optim.rwp import filter_norms
from tests.optim.helpers import assert_state_round_trip

TIGHT = {"rtol": 1e-12, "atol": 1e-14}
LR = 0.1

# A tiny least-squares problem: r = X Wᵀ + b - Y, L = ½ mean_i ‖r_i‖².
_g = torch.Generator().manual_seed(1)
X = torch.randn(6, 3, generator=_g, dtype=torch.float64)
Y = torch.randn(6, 2, generator=_g, dtype=torch.float64)
W0 = torch.randn(2, 3, generator=_g, dtype=torch.float64)
B0 = torch.randn(2, generator=_g, dtype=torch.float64)


def loss_and_grads(w, b):
    r = X @ w.T + b - Y
    return 0.5 * (r * r).sum() / len(X), r.T @ X / len(X), r.sum(0) / len(X)


def run(steps=1, seed=0, **kwargs):
    w, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(B0.clone())
    opt = RWP([w, b], torch.optim.SGD, generator=seed, lr=LR, **kwargs)
    losses = [opt.step(lambda: loss_and_grads(w, b)[0]) for _ in range(steps)]
    return w.detach(), b.detach(), losses, opt


def test_filter_norms():
    w = torch.arange(24.0).reshape(2, 3, 4)
    rows = torch.linalg.vector_norm(w.reshape(2, -1), dim=1)
    assert torch.equal(filter_norms(w)[0], rows[0].expand(3, 4))
    assert torch.equal(filter_norms(w)[1], rows[1].expand(3, 4))
    v = torch.tensor([3.0, 4.0])
    assert torch.equal(filter_norms(v), torch.tensor([5.0, 5.0]))


@pytest.mark.parametrize(("sigma", "lam"), [(0.01, 0.5), (0.2, 0.3)])
def test_two_steps_by_hand(sigma, lam):
    w, b, losses, _ = run(steps=2, rho=sigma, lam=lam)
    gen = torch.Generator().manual_seed(0)  # the documented draw order: W then b, per step
    ew, eb = W0.clone(), B0.clone()
    expected_losses = []
    for _ in range(2):
        loss, gw, gb = loss_and_grads(ew, eb)
        expected_losses.append(loss)
        zw = torch.randn(ew.shape, generator=gen, dtype=torch.float64)
        zb = torch.randn(eb.shape, generator=gen, dtype=torch.float64)
        row = torch.sqrt((ew * ew).sum(1, keepdim=True))  # each output filter's norm
        _, sw, sb = loss_and_grads(ew + sigma * zw * row, eb + sigma * zb * torch.sqrt(eb @ eb))
        ew = ew - LR * (lam * gw + (1 - lam) * sw)
        eb = eb - LR * (lam * gb + (1 - lam) * sb)
    assert_close(w, ew, **TIGHT)
    assert_close(b, eb, **TIGHT)
    assert_close(torch.stack(losses), torch.stack(expected_losses), **TIGHT)


def test_lambda_one_is_the_base_optimizer_exactly():
    w, b, _, _ = run(steps=3, lam=1.0)
    ew, eb = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(B0.clone())
    sgd = torch.optim.SGD([ew, eb], lr=LR)
    for _ in range(3):
        sgd.zero_grad()
        loss_and_grads(ew, eb)[0].backward()
        sgd.step()
    assert torch.equal(w, ew.detach()) and torch.equal(b, eb.detach())


def test_manual_steps_match_closure_steps():
    w, b, _, _ = run(steps=1, rho=0.1)
    mw, mb = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(B0.clone())
    opt = RWP([mw, mb], torch.optim.SGD, rho=0.1, generator=0, lr=LR)
    loss_and_grads(mw, mb)[0].backward()
    opt.first_step(zero_grad=True)
    loss_and_grads(mw, mb)[0].backward()
    opt.second_step(zero_grad=True)
    assert torch.equal(mw.detach(), w) and torch.equal(mb.detach(), b)


def test_same_seed_same_numbers_and_state_dict_continues_bit_identically():
    w1, _, _, _ = run(steps=2, seed=3, rho=0.1)
    w2, _, _, _ = run(steps=2, seed=3, rho=0.1)
    w3, _, _, _ = run(steps=2, seed=4, rho=0.1)
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)

    def make(seed):
        w, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(B0.clone())
        opt = RWP([w, b], "sgd", rho=0.1, generator=seed, lr=LR, momentum=0.9)
        return (w, b), opt, lambda: loss_and_grads(w, b)[0]

    assert_state_round_trip(make, seeds=(5, 99), before=3, after=3)


def test_invalid_hyper_parameters_are_refused():
    p = [torch.nn.Parameter(W0.clone())]
    with pytest.raises(ValueError, match="lam"):
        RWP(p, "sgd", lam=1.5, lr=0.1)
    with pytest.raises(ValueError, match="rho"):
        RWP(p, "sgd", rho=-0.01, lr=0.1)
    with pytest.raises(ValueError, match="generator"):
        RWP(p, "sgd", generator="seed", lr=0.1)


def test_converges_on_least_squares():
    w, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(B0.clone())
    opt = RWP([w, b], "sgd", generator=0, lr=0.2)
    best = torch.linalg.lstsq(torch.cat([X, torch.ones(6, 1, dtype=X.dtype)], 1), Y).solution
    optimum = loss_and_grads(best[:3].T, best[3])[0]
    with torch.no_grad():
        start = float(loss_and_grads(w, b)[0])
    for _ in range(400):
        opt.step(lambda: loss_and_grads(w, b)[0])
    with torch.no_grad():
        gap = float(loss_and_grads(w, b)[0] - optimum)
    assert gap < 1e-2 * (start - float(optimum))
