"""F2M: noise-averaged base training and clamped fine-tuning (docs/algorithms.md §4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import F2M
from tests.optim.helpers import least_squares_reduction

A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR = 0.1
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def loss(w):
    return 0.5 * w @ A @ w


def setup(**kwargs):
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = F2M([a, b], torch.optim.SGD, lr=LR, **kwargs)
    return a, b, opt


@pytest.mark.parametrize(("delta", "num_samples"), [(0.01, 2), (0.3, 3)])
def test_two_base_training_steps_by_hand(delta, num_samples):
    a, b, opt = setup(rho=delta, num_samples=num_samples, generator=0)
    out = [opt.step(lambda: loss(torch.cat([a, b]))) for _ in range(2)]

    gen = torch.Generator().manual_seed(0)  # per sample: rand of a's shape, then b's
    w, expected = W0.clone(), []
    for _ in range(2):
        noise = [
            delta * (2 * torch.cat([torch.rand(2, generator=gen, dtype=torch.float64),
                                    torch.rand(1, generator=gen, dtype=torch.float64)]) - 1)
            for _ in range(num_samples)
        ]
        expected.append(torch.stack([loss(w + n) for n in noise]).mean())
        w = w - LR * sum(A @ (w + n) for n in noise) / num_samples
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)
    assert_close(torch.stack(out), torch.stack(expected), **TIGHT)


def test_noise_stays_in_the_box():
    a, b, opt = setup(rho=0.05, num_samples=4, generator=1)
    seen = []

    def closure():
        seen.append(torch.cat([a, b]).detach() - W0)
        return loss(torch.cat([a, b]))

    opt.step(closure)
    offsets = torch.stack(seen)
    assert offsets.abs().max() <= 0.05 and offsets.abs().max() > 0.02
    assert len({tuple(o.tolist()) for o in offsets}) == 4  # independent samples


def test_clamped_fine_tuning_by_hand():
    a, b, opt = setup(rho=0.05, generator=0)
    opt.anchor()
    assert opt.anchored
    losses = [opt.step(lambda: loss(torch.cat([a, b]))) for _ in range(3)]
    w, expected = W0.clone(), []
    for _ in range(3):
        expected.append(loss(w))
        w = torch.clamp(w - LR * (A @ w), W0 - 0.05, W0 + 0.05)
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)
    assert_close(torch.stack(losses), torch.stack(expected), **TIGHT)
    assert (w - W0).abs().max() == pytest.approx(0.05)  # the clamp was active


def test_clamp_with_explicit_reference_and_delta():
    a, b, opt = setup()
    with torch.no_grad():
        a.copy_(torch.tensor([3.0, -3.0], dtype=torch.float64))
    opt.clamp_(reference=[torch.zeros(2), torch.zeros(1)], delta=1.0)
    assert torch.equal(a.detach(), torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert torch.equal(b.detach(), torch.tensor([0.5], dtype=torch.float64))
    with pytest.raises(RuntimeError, match="anchor"):
        setup()[2].clamp_()
    with pytest.raises(ValueError, match="reference"):
        opt.anchor(reference=[torch.zeros(3)])


def test_unperturbed_group_is_neither_noised_nor_clamped():
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = F2M([{"params": [a]}, {"params": [b], "perturb": False}], "sgd", rho=0.1, lr=1.0,
              generator=0)
    seen = []

    def closure():
        seen.append(b.detach().clone())
        return loss(torch.cat([a, b]))

    opt.step(closure)
    assert all(torch.equal(s, W0[2:]) for s in seen)
    opt.anchor()
    start = b.detach().clone()
    for _ in range(5):
        opt.step(closure)
    assert (b.detach() - start).abs().max() > 0.1  # b moved beyond the box: not clamped
    assert (a.detach() - opt.state[a]["f2m_reference"]).abs().max() <= 0.1


def test_state_dict_keeps_the_generator_and_the_anchor():
    a, b, opt = setup(rho=0.05, generator=3)
    opt.step(lambda: loss(torch.cat([a, b])))
    saved = copy.deepcopy(opt.state_dict())
    ta, tb, twin = setup(rho=0.05, generator=8)
    with torch.no_grad():
        ta.copy_(a)
        tb.copy_(b)
    twin.load_state_dict(saved)
    for _ in range(2):
        opt.step(lambda: loss(torch.cat([a, b])))
        twin.step(lambda: loss(torch.cat([ta, tb])))
    assert torch.equal(a, ta) and torch.equal(b, tb)

    opt.anchor()
    saved = copy.deepcopy(opt.state_dict())
    ta2, _, twin2 = setup(rho=0.05)
    twin2.load_state_dict(saved)
    assert twin2.anchored
    assert torch.equal(twin2.state[ta2]["f2m_reference"], a.detach())


@pytest.mark.parametrize(("arg", "value"), [("num_samples", 0), ("rho", -0.01)])
def test_invalid_hyper_parameters_are_refused(arg, value):
    with pytest.raises(ValueError, match=arg):
        setup(**{arg: value})


def test_base_training_converges_on_least_squares():
    reduction = least_squares_reduction(
        lambda params: F2M(params, "sgd", rho=0.01, generator=0, lr=0.1), steps=200
    )
    assert reduction < 1e-3
