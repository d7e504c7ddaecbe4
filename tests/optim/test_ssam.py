"""SSAM-F and SSAM-D against hand computations (docs/algorithms.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, SSAMD, SSAMF
from tests.optim.helpers import (
    EPS,
    LR,
    RHO,
    TIGHT,
    assert_global_generator_untouched,
    assert_grad_scaler_matches_unscaled,
    assert_manual_steps_match,
    assert_same_runs,
    assert_settles_on_the_quadratic,
    assert_state_round_trip,
    norm,
    split_problem,
    weights,
)

_g = torch.Generator().manual_seed(0)
_M = torch.randn(10, 10, generator=_g, dtype=torch.float64)
# L(w) = ½ wᵀAw over w = [w1; w2] (10 entries in two tensors: the mask is global).
A = _M @ _M.T / 10 + torch.eye(10, dtype=torch.float64)
W0 = torch.randn(10, generator=_g, dtype=torch.float64)
# Least squares ℓ_i(w) = ½ (x_iᵀw − y_i)² for the single-sample gradients of SSAM-F.
X = torch.randn(8, 10, generator=_g, dtype=torch.float64)
Y = torch.randn(8, generator=_g, dtype=torch.float64)
SEED = 7


def setup(cls, problem: str = "quadratic", **kwargs):
    def loss(w):
        if problem == "quadratic":
            return 0.5 * w @ A @ w
        losses = 0.5 * (X @ w - Y) ** 2
        return losses if problem == "per-sample" else losses.mean()

    return split_problem(cls, loss, W0, at=6, **kwargs)


def top(scores: torch.Tensor, k: int) -> torch.Tensor:
    mask = torch.zeros(len(scores), dtype=torch.bool)
    mask[torch.argsort(scores, descending=True)[:k]] = True
    return mask


def sam_step(w: torch.Tensor, g: torch.Tensor, mask: torch.Tensor, grad_at) -> torch.Tensor:
    eps = RHO * torch.where(mask, g, 0.0) / (norm(g) + EPS)
    return w - LR * grad_at(w + eps)


# ---------------------------------------------------------------------- SSAM-F
def ssam_f_by_hand(steps: int, interval: int, sparsity: float) -> tuple[torch.Tensor, torch.Tensor]:
    keep = 10 - math.ceil(sparsity * 10)
    w, mask = W0.clone(), None
    for t in range(steps):
        g = A @ w
        if t % interval == 0:
            mask = top(g * g, keep)  # scalar closure: the squared batch gradient
        w = sam_step(w, g, mask, lambda v: A @ v)
    return w, mask


@pytest.mark.parametrize(("steps", "interval"), [(1, 1), (3, 1), (3, 2)])
def test_ssam_f_scalar_closure_by_hand(steps, interval):
    ws, opt, closure = setup(SSAMF, rho=RHO, update_interval=interval)  # sparsity = 0.5
    for _ in range(steps):
        opt.step(closure)
    expected_w, expected_mask = ssam_f_by_hand(steps, interval, 0.5)
    assert_close(weights(ws), expected_w, **TIGHT)
    mask = torch.cat([opt.state[w]["ssam_mask"] for w in ws])
    assert torch.equal(mask, expected_mask.to(torch.float64))


def test_ssam_f_other_sparsity_by_hand():
    ws, opt, closure = setup(SSAMF, rho=0.3, sparsity=0.7, update_interval=1)
    for _ in range(2):
        opt.step(closure)
    w = W0.clone()
    for _ in range(2):
        g = A @ w
        eps = 0.3 * torch.where(top(g * g, 3), g, 0.0) / (norm(g) + EPS)
        w = w - LR * (A @ (w + eps))
    assert_close(weights(ws), w, **TIGHT)


@pytest.mark.parametrize(("steps", "interval"), [(2, 1), (3, 2)])
def test_ssam_f_fisher_from_single_sample_gradients_by_hand(steps, interval):
    ws, opt, closure = setup(SSAMF, "per-sample", rho=RHO, num_samples=5,
                             update_interval=interval, generator=SEED)
    losses = [opt.step(closure) for _ in range(steps)]
    draws = torch.Generator().manual_seed(SEED)
    w, mask = W0.clone(), None
    for t in range(steps):
        r = X @ w - Y
        g = X.T @ r / len(Y)
        if t % interval == 0:  # one randperm of the batch per mask update
            samples = torch.randperm(len(Y), generator=draws)[:5]
            fisher = ((X[samples] * r[samples, None]) ** 2).sum(0)
            mask = top(fisher, 5)
        w = sam_step(w, g, mask, lambda v: X.T @ (X @ v - Y) / len(Y))
    assert_close(weights(ws), w, **TIGHT)
    assert_close(losses[0], (0.5 * (X @ W0 - Y) ** 2).mean(), **TIGHT)


def test_ssam_f_single_sample_mask_is_not_the_squared_batch_gradient_mask():
    # Otherwise the test above could not tell the two ways of scoring apart.
    r = X @ W0 - Y
    samples = torch.randperm(len(Y), generator=torch.Generator().manual_seed(SEED))[:5]
    fisher_mask = top(((X[samples] * r[samples, None]) ** 2).sum(0), 5)
    g = X.T @ r / len(Y)
    assert not torch.equal(fisher_mask, top(g * g, 5))
    ws, opt, closure = setup(SSAMF, "per-sample", rho=RHO, num_samples=5, generator=SEED)
    opt.step(closure)
    mask = torch.cat([opt.state[w]["ssam_mask"] for w in ws])
    assert torch.equal(mask, fisher_mask.to(torch.float64))


def test_ssam_f_uses_every_sample_when_the_batch_is_small():
    ws, opt, closure = setup(SSAMF, "per-sample", rho=RHO, num_samples=100, generator=SEED)
    opt.step(closure)
    r = X @ W0 - Y
    mask = top(((X * r[:, None]) ** 2).sum(0), 5)
    expected = sam_step(W0, X.T @ r / len(Y), mask, lambda v: X.T @ (X @ v - Y) / len(Y))
    assert_close(weights(ws), expected, **TIGHT)


# ---------------------------------------------------------------------- SSAM-D
def ssam_d_by_hand(steps: int, interval: int, total: int, r0: float) -> torch.Tensor:
    draws = torch.Generator().manual_seed(SEED)
    keep = 5  # 10 − ⌈0.5 · 10⌉
    mask = top(torch.rand(10, generator=draws), keep)  # the random start
    w = W0.clone()
    for t in range(steps):
        g = A @ w
        if t > 0 and t % interval == 0:
            rate = r0 * (1 + math.cos(math.pi * min(t, total) / total)) / 2
            n = min(math.floor(rate * keep), 10 - keep)
            u = torch.rand(10, generator=draws)  # drawn at every update
            kept, free = mask.nonzero().flatten(), (~mask).nonzero().flatten()
            drop = kept[torch.argsort(g[kept].abs())[:n]]
            grow = free[torch.argsort(u[free], descending=True)[:n]]
            mask[drop], mask[grow] = False, True
        w = sam_step(w, g, mask, lambda v: A @ v)
    return w


@pytest.mark.parametrize(("steps", "interval"), [(1, 1), (4, 1), (5, 2)])
def test_ssam_d_by_hand(steps, interval):
    # r0 = 1 and T = 4: r_t·K = 4.27, 2.5, 0.73 at t = 1, 2, 3: 4, 2, then 0 entries swapped.
    ws, opt, closure = setup(SSAMD, rho=RHO, drop_rate=1.0, update_interval=interval,
                             total_steps=4, generator=SEED)
    for _ in range(steps):
        opt.step(closure)
    assert_close(weights(ws), ssam_d_by_hand(steps, interval, 4, 1.0), **TIGHT)


def test_ssam_d_mask_keeps_its_density_and_moves():
    ws, opt, closure = setup(SSAMD, rho=RHO, update_interval=1, total_steps=50, generator=SEED)
    opt.step(closure)
    first = torch.cat([opt.state[w]["ssam_mask"] for w in ws]).clone()
    for _ in range(10):
        opt.step(closure)
        assert opt.density() == 0.5
    assert not torch.equal(torch.cat([opt.state[w]["ssam_mask"] for w in ws]), first)


def test_ssam_d_drop_rate_schedule():
    _, opt, _ = setup(SSAMD, drop_rate=0.4, total_steps=100)
    rates = [opt.drop_rate_at(t) for t in (0, 50, 100, 400)]
    assert_close(torch.tensor(rates), torch.tensor([0.4, 0.2, 0.0, 0.0]), rtol=0, atol=1e-15)
    _, no_horizon, _ = setup(SSAMD, drop_rate=0.4)
    assert no_horizon.drop_rate_at(0) == no_horizon.drop_rate_at(10**6) == 0.2


def test_ssam_d_state_dict_round_trip_continues_the_draws():
    assert_state_round_trip(
        lambda seed: setup(SSAMD, rho=RHO, update_interval=1, total_steps=20, generator=seed),
        seeds=(SEED, 123), before=3, after=4,
    )


# ---------------------------------------------------------------- both masks
@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_sparsity_zero_is_sam_bitwise(cls):
    sparse = setup(cls, rho=RHO, sparsity=0.0, update_interval=1)
    assert_same_runs(sparse, setup(SAM, rho=RHO), steps=4)


@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_sparsity_one_is_the_base_optimizer(cls):
    ws, opt, closure = setup(cls, rho=RHO, sparsity=1.0)
    w = W0.clone()
    for _ in range(4):
        opt.step(closure)
        w = w - LR * (A @ w)
    assert_close(weights(ws), w, **TIGHT)


@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_manual_steps_equal_the_closure_step(cls):
    assert_manual_steps_match(lambda: setup(cls, rho=RHO, update_interval=2, generator=SEED),
                              steps=5)


@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_converges_on_a_quadratic(cls):
    extra = {"total_steps": 200, "generator": 0} if cls is SSAMD else {}
    assert_settles_on_the_quadratic(setup(cls, rho=RHO, update_interval=10, **extra))


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [(SSAMF, {"sparsity": 1.5}, "sparsity"), (SSAMF, {"num_samples": 0}, "num_samples"),
     (SSAMF, {"update_interval": 0}, "update_interval"), (SSAMD, {"drop_rate": -0.1}, "drop_rate"),
     (SSAMD, {"total_steps": 0}, "total_steps"), (SSAMD, {"generator": 1.5}, "generator")],
)
def test_bad_hyper_parameters_are_named(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(cls, **kwargs)


def test_repr_shows_the_mask_settings():
    _, opt, _ = setup(SSAMD, total_steps=10)
    text = repr(opt)
    assert text.startswith("SSAMD(base=SGD") and "sparsity=0.5" in text and "total_steps=10" in text


def test_grad_scaler_matches_the_unscaled_steps_and_an_overflow_changes_nothing():
    assert_grad_scaler_matches_unscaled(
        lambda: setup(SSAMD, rho=RHO, update_interval=1, total_steps=4, generator=SEED)
    )


@pytest.mark.parametrize(("cls", "problem"), [(SSAMF, "per-sample"), (SSAMD, "quadratic")])
def test_steps_never_draw_from_the_global_generator(cls, problem):
    _, opt, closure = setup(cls, problem, update_interval=1)
    assert_global_generator_untouched(opt, closure)
