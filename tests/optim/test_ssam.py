"""SSAM-F and SSAM-D against hand computations (ALGORITHMS.md §4)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, SSAMD, SSAMF

_g = torch.Generator().manual_seed(0)
_M = torch.randn(10, 10, generator=_g, dtype=torch.float64)
# L(w) = ½ wᵀAw over w = [w1; w2] (10 entries in two tensors: the mask is global).
A = _M @ _M.T / 10 + torch.eye(10, dtype=torch.float64)
W0 = torch.randn(10, generator=_g, dtype=torch.float64)
# Least squares ℓ_i(w) = ½ (x_iᵀw − y_i)² for the single-sample gradients of SSAM-F.
X = torch.randn(8, 10, generator=_g, dtype=torch.float64)
Y = torch.randn(8, generator=_g, dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}
SEED = 7


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def setup(cls, problem: str = "quadratic", **kwargs):
    w1 = torch.nn.Parameter(W0[:6].clone())
    w2 = torch.nn.Parameter(W0[6:].clone())
    opt = cls([w1, w2], torch.optim.SGD, lr=LR, **kwargs)

    def closure():
        w = torch.cat([w1, w2])
        if problem == "quadratic":
            return 0.5 * w @ A @ w
        losses = 0.5 * (X @ w - Y) ** 2
        return losses if problem == "per-sample" else losses.mean()

    return (w1, w2), opt, closure


def weights(ws) -> torch.Tensor:
    return torch.cat([w.detach() for w in ws])


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
    ws, opt, closure = setup(SSAMD, rho=RHO, update_interval=1, total_steps=20, generator=SEED)
    for _ in range(3):
        opt.step(closure)
    ws_twin, twin, closure_twin = setup(SSAMD, rho=RHO, update_interval=1, total_steps=20,
                                        generator=123)
    with torch.no_grad():
        for w, v in zip(ws_twin, ws):
            w.copy_(v)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(4):
        opt.step(closure)
        twin.step(closure_twin)
    assert torch.equal(weights(ws), weights(ws_twin))


# ---------------------------------------------------------------- both masks
@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_sparsity_zero_is_sam_bitwise(cls):
    ws, opt, closure = setup(cls, rho=RHO, sparsity=0.0, update_interval=1)
    ws_sam, sam, closure_sam = setup(SAM, rho=RHO)
    for _ in range(4):
        assert torch.equal(opt.step(closure), sam.step(closure_sam))
    assert torch.equal(weights(ws), weights(ws_sam))


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
    ws, opt, closure = setup(cls, rho=RHO, update_interval=2, generator=SEED)
    ws_manual, manual, closure_manual = setup(cls, rho=RHO, update_interval=2, generator=SEED)
    for _ in range(5):
        opt.step(closure)
        closure_manual().backward()
        manual.first_step(zero_grad=True)
        closure_manual().backward()
        manual.second_step(zero_grad=True)
    assert torch.equal(weights(ws), weights(ws_manual))


@pytest.mark.parametrize("cls", [SSAMF, SSAMD])
def test_converges_on_a_quadratic(cls):
    ws, opt, closure = setup(cls, rho=RHO, update_interval=10, total_steps=200, generator=0) \
        if cls is SSAMD else setup(cls, rho=RHO, update_interval=10)
    losses = [float(opt.step(closure)) for _ in range(200)]
    assert losses[-1] < 1e-3 * losses[0]
    assert norm(weights(ws)) < 2 * RHO


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
    ws, opt, closure = setup(SSAMD, rho=RHO, update_interval=1, total_steps=4, generator=SEED)
    ws_plain, plain, closure_plain = setup(SSAMD, rho=RHO, update_interval=1, total_steps=4,
                                           generator=SEED)
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


@pytest.mark.parametrize(("cls", "problem"), [(SSAMF, "per-sample"), (SSAMD, "quadratic")])
def test_steps_never_draw_from_the_global_generator(cls, problem):
    _, opt, closure = setup(cls, problem, update_interval=1)
    state = torch.get_rng_state()
    for _ in range(3):
        opt.step(closure)
    assert torch.equal(torch.get_rng_state(), state)
