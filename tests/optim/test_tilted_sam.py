"""First-order tilted SAM against hand computations (docs/algorithms.md §4), fixed generator."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import TiltedSAM, create_optimizer
from fgsam.optim.tilted_sam import TiltedSum, tilted_loss
from tests.optim.helpers import assert_state_round_trip, least_squares_reduction

A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def loss(w):
    return 0.5 * w @ A @ w


def norm(v):
    return math.sqrt(float(v @ v))


def run(steps=1, seed=0, **kwargs):
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    opt = TiltedSAM([a, b], torch.optim.SGD, generator=seed, lr=LR, **kwargs)
    out = [opt.step(lambda: loss(torch.cat([a, b]))) for _ in range(steps)]
    return torch.cat([a, b]).detach(), out


def hand(steps, tilt, num_samples, radius, ascent, seed=0):
    """The documented draws: per sample, randn of a's shape then of b's."""
    gen = torch.Generator().manual_seed(seed)
    w, objectives = W0.clone(), []
    for _ in range(steps):
        grads, losses = [], []
        for _ in range(num_samples):
            z = torch.cat([torch.randn(2, generator=gen, dtype=torch.float64),
                           torch.randn(1, generator=gen, dtype=torch.float64)])
            eps = z * min(norm(z), radius) / norm(z)
            if ascent:
                g = A @ (w + eps)
                eps = eps + RHO * g / (norm(g) + EPS)
            grads.append(A @ (w + eps))
            losses.append(loss(w + eps))
        losses = torch.stack(losses)
        weights = torch.softmax(tilt * losses, 0)
        w = w - LR * sum(wt * g for wt, g in zip(weights, grads))
        objectives.append(losses.mean() if tilt == 0 else
                          (torch.logsumexp(tilt * losses, 0) - math.log(num_samples)) / tilt)
    return w, objectives


@pytest.mark.parametrize(
    ("tilt", "num_samples", "radius", "ascent"),
    [(1.0, 3, 1.0, True), (5.0, 2, 0.3, True), (0.0, 3, 10.0, True), (2.0, 4, 0.5, False)],
)
def test_two_steps_by_hand(tilt, num_samples, radius, ascent):
    w, out = run(steps=2, rho=RHO, tilt=tilt, num_samples=num_samples, noise_radius=radius,
                 ascent=ascent)
    ew, eout = hand(2, tilt, num_samples, radius, ascent)
    assert_close(w, ew, **TIGHT)
    assert_close(torch.stack(out), torch.stack(eout), **TIGHT)


def test_defaults_are_the_authors():
    opt = TiltedSAM([torch.nn.Parameter(W0.clone())], "sgd", lr=0.1)
    assert (opt.num_samples, opt.tilt, opt.noise_radius, opt.ascent) == (3, 1.0, 1.0, True)
    assert opt.param_groups[0]["rho"] == 0.05


def test_large_tilt_takes_the_worst_sample():
    # t -> infinity: the weights become one-hot on the sample of largest loss (SAM-like).
    w, _ = run(rho=RHO, tilt=1e6, num_samples=3)
    gen = torch.Generator().manual_seed(0)
    candidates = []
    for _ in range(3):
        z = torch.cat([torch.randn(2, generator=gen, dtype=torch.float64),
                       torch.randn(1, generator=gen, dtype=torch.float64)])
        eps = z / norm(z)
        g = A @ (W0 + eps)
        eps = eps + RHO * g / (norm(g) + EPS)
        candidates.append((float(loss(W0 + eps)), W0 - LR * (A @ (W0 + eps))))
    assert_close(w, max(candidates, key=lambda c: c[0])[1], **TIGHT)


@pytest.mark.parametrize("order", ["rising", "falling", "mixed"])
def test_tilted_sum_is_the_softmax_weighted_sum(order):
    losses = {"rising": [0.1, 0.5, 2.0, 3.0], "falling": [3.0, 2.0, 0.5, 0.1],
              "mixed": [1.0, 3.0, 0.2, 2.5]}[order]
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, generator=g, dtype=torch.float64) for _ in losses]
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    total = TiltedSum(2.0)
    for value, grad in zip(losses, grads):
        p.grad = grad
        total.add(torch.tensor(value, dtype=torch.float64), [p])
    total.write_grads()
    weights = torch.softmax(2.0 * torch.tensor(losses, dtype=torch.float64), 0)
    assert_close(p.grad, sum(w * gr for w, gr in zip(weights, grads)), **TIGHT)
    values = torch.tensor(losses, dtype=torch.float64)
    assert_close(tilted_loss(values, 0.0), values.mean(), **TIGHT)


def test_only_the_first_pass_updates_batchnorm_and_unused_parameters_stay():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model.unused = torch.nn.Parameter(torch.ones(2))
    x = torch.randn(16, 3)
    opt = create_optimizer(model, "tsam", lr=0.01, generator=0)
    passes = []

    def closure():
        passes.append(1)
        return model(x).pow(2).mean()

    opt.step(closure)
    assert len(passes) == 6  # S (1 + ascent) passes with the defaults
    assert int(model[1].num_batches_tracked) == 1
    assert torch.equal(model.unused, torch.ones(2)) and model.unused.grad is None


def test_state_dict_continues_bit_identically():
    def make(seed):
        a = torch.nn.Parameter(W0.clone())
        return (a,), TiltedSAM([a], "sgd", generator=seed, lr=LR, momentum=0.9), lambda: loss(a)

    assert_state_round_trip(make, seeds=(1, 7), before=2, after=3)


@pytest.mark.parametrize(
    ("arg", "value"), [("tilt", -1.0), ("num_samples", 0), ("noise_radius", -0.5),
                       ("ascent", "yes")]
)
def test_invalid_hyper_parameters_are_refused(arg, value):
    with pytest.raises(ValueError, match=arg):
        TiltedSAM([torch.nn.Parameter(W0.clone())], "sgd", lr=0.1, **{arg: value})


def test_converges_on_least_squares():
    reduction = least_squares_reduction(
        lambda params: TiltedSAM(params, "sgd", noise_radius=0.01, generator=0, lr=0.1), steps=150
    )
    assert reduction < 1e-3
