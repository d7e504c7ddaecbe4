"""ESAM against hand computations on a tiny least-squares problem (docs/algorithms.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import ESAM, SAM
from tests.optim.helpers import (
    EPS,
    LR,
    RHO,
    TIGHT,
    W0,
    assert_global_generator_untouched,
    assert_grad_scaler_matches_unscaled,
    assert_same_runs,
    norm,
    weights,
)

# ℓ_i(w) = ½ (x_iᵀw − y_i)² with w = [w1; w2] (two tensors: the perturbation picks tensors).
_g = torch.Generator().manual_seed(0)
X = torch.randn(6, 3, generator=_g, dtype=torch.float64)
Y = torch.randn(6, generator=_g, dtype=torch.float64)
SEED = 1  # its first two pairs of draws are (0.76, 0.28) and (0.40, 0.73): mixed choices


def setup(cls=ESAM, per_sample: bool = True, **kwargs):
    w1 = torch.nn.Parameter(W0[:2].clone())
    w2 = torch.nn.Parameter(W0[2:].clone())
    opt = cls([w1, w2], torch.optim.SGD, lr=LR, **kwargs)

    def closure():
        losses = 0.5 * (X[:, :2] @ w1 + X[:, 2] * w2 - Y) ** 2
        return losses if per_sample else losses.mean()

    return (w1, w2), opt, closure


def by_hand(steps: int, beta: float, gamma: float, select: bool = True) -> torch.Tensor:
    draws = torch.Generator().manual_seed(SEED)
    w = W0.clone()
    for _ in range(steps):
        r = X @ w - Y
        g = X.T @ r / len(Y)
        keep = torch.rand(2, generator=draws) < beta  # one draw per tensor: w1, w2
        scale = RHO / (beta * (norm(g) + EPS))
        eps = torch.cat([g[:2] * scale * float(keep[0]), g[2:] * scale * float(keep[1])])
        r_after = X @ (w + eps) - Y
        rise = 0.5 * r_after**2 - 0.5 * r**2
        chosen = torch.argsort(rise, descending=True)[: math.floor(gamma * len(Y))]
        if not select:
            chosen = torch.arange(len(Y))
        w = w - LR * (X[chosen].T @ r_after[chosen] / len(chosen))
    return w


@pytest.mark.parametrize("steps", [1, 2])
def test_steps_by_hand(steps):
    ws, opt, closure = setup(rho=RHO, generator=SEED)  # beta = 0.6, gamma = 0.5
    losses = [opt.step(closure) for _ in range(steps)]
    assert_close(weights(ws), by_hand(steps, 0.6, 0.5), **TIGHT)
    assert_close(losses[0], (0.5 * (X @ W0 - Y) ** 2).mean(), **TIGHT)  # mean loss at w


def test_other_beta_and_gamma_by_hand():
    ws, opt, closure = setup(rho=RHO, beta=0.5, gamma=2 / 3, generator=SEED)
    for _ in range(2):
        opt.step(closure)
    assert_close(weights(ws), by_hand(2, 0.5, 2 / 3), **TIGHT)


def test_scalar_closure_runs_without_data_selection():
    ws, opt, closure = setup(per_sample=False, rho=RHO, generator=SEED)
    for _ in range(2):
        opt.step(closure)
    assert_close(weights(ws), by_hand(2, 0.6, 0.5, select=False), **TIGHT)


def test_beta_and_gamma_one_are_sam_bitwise():
    esam = setup(rho=RHO, beta=1.0, gamma=1.0)
    assert_same_runs(esam, setup(SAM, per_sample=False, rho=RHO), steps=4)


def test_same_seed_same_run_and_generator_object_accepted():
    ws_a, a, closure_a = setup(generator=3)
    ws_b, b, closure_b = setup(generator=torch.Generator().manual_seed(3))
    for _ in range(5):
        a.step(closure_a)
        b.step(closure_b)
    assert torch.equal(weights(ws_a), weights(ws_b))


def test_manual_steps_perturb_without_selection():
    ws, opt, closure = setup(per_sample=False, rho=RHO, generator=SEED)
    for _ in range(2):
        closure().backward()
        opt.first_step(zero_grad=True)
        closure().backward()
        opt.second_step(zero_grad=True)
    assert_close(weights(ws), by_hand(2, 0.6, 0.5, select=False), **TIGHT)


def test_changing_batch_between_passes_is_an_error():
    w = torch.nn.Parameter(W0.clone())
    opt = ESAM([w], "sgd", lr=LR)
    sizes = iter([6, 5])
    with pytest.raises(ValueError, match="same samples"):
        opt.step(lambda: (0.5 * (X @ w - Y) ** 2)[: next(sizes)])


def test_esam_converges_on_least_squares():
    _, opt, closure = setup(rho=RHO, generator=0)
    w_star = torch.linalg.lstsq(X, Y).solution
    floor = float((0.5 * (X @ w_star - Y) ** 2).mean())
    start = float(opt.step(closure))
    for _ in range(300):
        last = float(opt.step(closure))
    assert last - floor < 1e-2 * (start - floor)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"beta": 0.0}, "beta"), ({"beta": 1.2}, "beta"), ({"gamma": 0.0}, "gamma"),
     ({"generator": "x"}, "generator")],
)
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_beta_and_gamma():
    _, opt, _ = setup()
    assert repr(opt).startswith("ESAM(base=SGD") and "gamma=0.5" in repr(opt)


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    assert_grad_scaler_matches_unscaled(lambda: setup(rho=RHO, generator=SEED))


def test_steps_never_draw_from_the_global_generator():
    _, opt, closure = setup()
    assert_global_generator_untouched(opt, closure)
