"""SAM, ASAM, Unified SAM and multi-step ascent against hand computations
(docs/algorithms.md §1)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import ASAM, SAM

A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-13, "atol": 1e-15}


def quadratic(w: torch.Tensor):
    return lambda: 0.5 * w @ A @ w


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def run(opt_cls, steps: int = 1, **kwargs):
    w = torch.nn.Parameter(W0.clone())
    opt = opt_cls([w], torch.optim.SGD, lr=LR, **kwargs)
    losses = [opt.step(quadratic(w)) for _ in range(steps)]
    return w.detach(), losses


def test_one_sam_step_by_hand():
    w, (loss,) = run(SAM, rho=RHO)
    g = A @ W0
    eps = RHO * g / (norm(g) + EPS)
    expected = W0 - LR * (A @ (W0 + eps))
    assert_close(w, expected, **TIGHT)
    assert_close(loss, 0.5 * W0 @ A @ W0, **TIGHT)  # the loss at the unperturbed weights


def test_two_sam_steps_by_hand():
    w, _ = run(SAM, steps=2, rho=RHO)
    expected = W0.clone()
    for _ in range(2):
        g = A @ expected
        expected = expected - LR * (A @ (expected + RHO * g / (norm(g) + EPS)))
    assert_close(w, expected, **TIGHT)


def test_one_asam_step_by_hand():
    rho, eta = 0.5, 0.01
    w, _ = run(SAM, rho=rho, adaptive=True, eta=eta)
    g = A @ W0
    t = W0.abs() + eta
    eps = rho * t * t * g / (norm(t * g) + EPS)
    assert_close(w, W0 - LR * (A @ (W0 + eps)), **TIGHT)
    w_asam, _ = run(ASAM)  # the registry entry: adaptive with rho = 0.5
    assert_close(w_asam, w, rtol=0, atol=0)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_unified_sam_by_hand(lam):
    w, _ = run(SAM, rho=RHO, unified=lam)
    g = A @ W0
    eps = RHO * (lam / (norm(g) + EPS) + 1 - lam) * g
    assert_close(w, W0 - LR * (A @ (W0 + eps)), **TIGHT)


def test_three_step_ascent_by_hand():
    n = 3
    w, _ = run(SAM, rho=RHO, ascent_steps=n)
    eps = torch.zeros(2, dtype=torch.float64)
    for _ in range(n):
        g = A @ (W0 + eps)
        eps = eps + (RHO / n) * g / (norm(g) + EPS)
        if norm(eps) > RHO:
            eps = eps * (RHO / norm(eps))
    assert_close(w, W0 - LR * (A @ (W0 + eps)), **TIGHT)


def test_multi_step_ascent_projects_onto_the_ball():
    # An indefinite quadratic: successive ascent directions agree, so the sum leaves the ball.
    a = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    w = torch.nn.Parameter(torch.tensor([1.0, 0.0], dtype=torch.float64))
    opt = SAM([w], torch.optim.SGD, lr=LR, rho=RHO, ascent_steps=4)
    seen = []
    opt.step(lambda: (seen.append(w.detach().clone()), 0.5 * w @ a @ w)[1])
    assert len(seen) == 5  # n + 1 passes
    assert all(norm(s - torch.tensor([1.0, 0.0], dtype=torch.float64)) <= RHO + 1e-15 for s in seen)


def test_one_ascent_step_is_sam():
    w1, _ = run(SAM, steps=3, rho=RHO, ascent_steps=1)
    w2, _ = run(SAM, steps=3, rho=RHO)
    assert torch.equal(w1, w2)


def test_rho_zero_equals_base_optimizer_bitwise():
    torch.manual_seed(0)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    twin.load_state_dict(net.state_dict())
    sam = SAM(net.parameters(), torch.optim.Adam, rho=0.0, lr=1e-2, weight_decay=1e-3)
    adam = torch.optim.Adam(twin.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(10):
        loss_sam = sam.step(lambda: torch.nn.functional.cross_entropy(net(x), y))
        adam.zero_grad()
        loss_adam = torch.nn.functional.cross_entropy(twin(x), y)
        loss_adam.backward()
        adam.step()
        assert torch.equal(loss_sam, loss_adam.detach())
        for p, q in zip(net.parameters(), twin.parameters()):
            assert torch.equal(p, q)


def test_zero_gradient_gives_no_perturbation():
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = SAM([w], torch.optim.SGD, lr=LR, rho=RHO, adaptive=True)
    opt.step(quadratic(w))
    assert torch.equal(w.detach(), torch.zeros(2, dtype=torch.float64))


def test_per_group_rho_and_perturb_flag_by_hand():
    # L(w1, w2) = ½ [w1; w2]ᵀ A [w1; w2], w1 perturbed, w2 in a perturb=False group.
    w1 = torch.nn.Parameter(W0[:1].clone())
    w2 = torch.nn.Parameter(W0[1:].clone())
    rho1 = 0.2
    opt = SAM([{"params": [w1], "rho": rho1}, {"params": [w2], "perturb": False}],
              torch.optim.SGD, lr=LR, rho=RHO)
    opt.step(lambda: 0.5 * torch.cat([w1, w2]) @ A @ torch.cat([w1, w2]))
    g = A @ W0
    eps = torch.stack([rho1 * g[0] / (g[0].abs() + EPS), torch.zeros((), dtype=torch.float64)])
    expected = W0 - LR * (A @ (W0 + eps))
    assert_close(torch.cat([w1, w2]).detach(), expected, **TIGHT)


def test_max_grad_norm_clips_the_descent_gradient_by_hand():
    w = torch.nn.Parameter(W0.clone())
    opt = SAM([w], torch.optim.SGD, lr=LR, rho=RHO, max_grad_norm=0.5)
    opt.step(quadratic(w))
    g = A @ W0
    d = A @ (W0 + RHO * g / (norm(g) + EPS))
    d = d * torch.clamp(0.5 / (norm(d) + 1e-6), max=1.0)
    assert_close(w.detach(), W0 - LR * d, **TIGHT)


def test_manual_first_and_second_step_equal_the_closure_step():
    w_closure, _ = run(SAM, steps=2, rho=RHO, ascent_steps=2)
    w = torch.nn.Parameter(W0.clone())
    opt = SAM([w], torch.optim.SGD, lr=LR, rho=RHO, ascent_steps=2)
    for _ in range(2):
        quadratic(w)().backward()
        opt.first_step(zero_grad=True)
        quadratic(w)().backward()
        opt.first_step(zero_grad=True)
        quadratic(w)().backward()
        opt.second_step(zero_grad=True)
    assert torch.equal(w.detach(), w_closure)


def test_sam_converges_on_a_quadratic():
    # With a fixed radius SAM settles within about rho of the minimiser, not on it.
    w, losses = run(SAM, steps=200, rho=RHO)
    assert float(losses[-1]) < 1e-3 * float(losses[0])
    assert norm(w) < 2 * RHO


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"eta": -1.0}, "eta"), ({"unified": 1.5}, "unified"), ({"ascent_steps": 0}, "ascent_steps"),
     ({"max_grad_norm": 0.0}, "max_grad_norm")],
)
def test_bad_hyper_parameters_are_named(kwargs, name):
    w = torch.nn.Parameter(W0.clone())
    with pytest.raises(ValueError, match=name):
        SAM([w], torch.optim.SGD, lr=LR, **kwargs)


def test_repr_names_the_method_and_base():
    w = torch.nn.Parameter(W0.clone())
    text = repr(SAM([w], "sgd", lr=LR, adaptive=True))
    assert "SAM(base=SGD" in text and "adaptive=True" in text and "rho=0.05" in text
