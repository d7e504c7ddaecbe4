"""LookSAM against hand computations (ALGORITHMS.md §4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import SAM, LookSAM

# L(w) = ½ wᵀAw over w = [w1; w2], two tensors so that norms and inner products are global.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def setup(cls=LookSAM, **kwargs):
    w1 = torch.nn.Parameter(W0[:2].clone())
    w2 = torch.nn.Parameter(W0[2:].clone())
    opt = cls([w1, w2], torch.optim.SGD, lr=LR, **kwargs)
    calls = []

    def closure():
        calls.append(1)
        w = torch.cat([w1, w2])
        return 0.5 * w @ A @ w

    return (w1, w2), opt, closure, calls


def weights(ws) -> torch.Tensor:
    return torch.cat([w.detach() for w in ws])


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
    ws, opt, closure, _ = setup(rho=RHO, k=1)
    ws_sam, sam, closure_sam, _ = setup(SAM, rho=RHO)
    for _ in range(5):
        assert torch.equal(opt.step(closure), sam.step(closure_sam))
    assert torch.equal(weights(ws), weights(ws_sam))


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
    ws, opt, closure, _ = setup(rho=RHO)
    losses = [float(opt.step(closure)) for _ in range(200)]
    assert losses[-1] < 1e-3 * losses[0]
    assert norm(weights(ws)) < 2 * RHO


@pytest.mark.parametrize(("kwargs", "name"), [({"k": 0}, "k"), ({"k": 2.5}, "k"),
                                              ({"alpha": -0.1}, "alpha")])
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        setup(**kwargs)


def test_repr_shows_k_and_alpha():
    _, opt, _, _ = setup(k=4)
    assert repr(opt).startswith("LookSAM(base=SGD") and "k=4" in repr(opt)


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
    ws, opt, closure, _ = setup(rho=RHO, k=2)
    ws_plain, plain, closure_plain, _ = setup(rho=RHO, k=2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(4):
        opt.step(closure, scaler=scaler)
        scaler.update()
        plain.step(closure_plain)
    # g_v is a small difference of large vectors: roundoff differs with the scale.
    assert_close(weights(ws), weights(ws_plain), rtol=1e-9, atol=1e-12)
    state, before = copy.deepcopy(opt.state_dict()), weights(ws)
    opt.step(lambda: closure() * float("inf"), scaler=scaler)
    scaler.update()
    assert torch.equal(weights(ws), before) and scaler.get_scale() == 2.0**9
    assert same_state(opt.state_dict(), state)
