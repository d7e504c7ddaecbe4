"""Zeroth-order tilted SAM against hand computations (docs/algorithms.md §4), fixed generator."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from fgsam.optim import ZerothOrderTiltedSAM, create_optimizer
from fgsam.optim.zo_tilted_sam import UsedParameters
from tests.optim.helpers import assert_state_round_trip, least_squares_reduction

A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.0]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, MU = 0.1, 0.01
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def loss(w):
    return 0.5 * w @ A @ w


def setup(**kwargs):
    a, b = torch.nn.Parameter(W0[:2].clone()), torch.nn.Parameter(W0[2:].clone())
    unused = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))  # the loss ignores it
    opt = ZerothOrderTiltedSAM([a, unused, b], torch.optim.SGD, lr=LR, **kwargs)
    return a, b, unused, opt


def hand(steps, tilt, num_samples, seed=0):
    """Documented draws: per sample, randn of a's shape then b's (the unused one is skipped)."""
    gen = torch.Generator().manual_seed(seed)
    w, base_losses = W0.clone(), []
    for _ in range(steps):
        base = loss(w)
        base_losses.append(base)
        dirs, losses = [], []
        for _ in range(num_samples):
            u = torch.cat([torch.randn(2, generator=gen, dtype=torch.float64),
                           torch.randn(1, generator=gen, dtype=torch.float64)])
            dirs.append(u)
            losses.append(loss(w + MU * u))
        losses = torch.stack(losses)
        weights = torch.softmax(tilt * losses, 0)
        d = sum(wt * (ls - base) / MU * u for wt, ls, u in zip(weights, losses, dirs))
        w = w - LR * d
    return w, base_losses


@pytest.mark.parametrize(("tilt", "num_samples"), [(1.0, 3), (0.0, 4), (50.0, 2)])
def test_two_steps_by_hand(tilt, num_samples):
    a, b, unused, opt = setup(rho=MU, tilt=tilt, num_samples=num_samples, generator=0)
    out = [opt.step(lambda: loss(torch.cat([a, b]))) for _ in range(2)]
    w, base_losses = hand(2, tilt, num_samples)
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)
    assert_close(torch.stack(out), torch.stack(base_losses), **TIGHT)  # L(w) is returned
    assert torch.equal(unused, torch.ones(4, dtype=torch.float64)) and unused.grad is None


def test_builds_no_autograd_graph_and_runs_no_backward():
    a, b, _, opt = setup(generator=0)
    seen = []

    def closure():
        value = loss(torch.cat([a, b]))
        seen.append((torch.is_grad_enabled(), value.requires_grad, value.grad_fn))
        return value

    def no_backward(grad):  # would only fire if a backward pass reached the parameters
        raise AssertionError("a backward pass ran")

    a.register_hook(no_backward)
    for _ in range(3):
        opt.step(closure)
    assert len(seen) == 3 * (opt.num_samples + 1)  # S + 1 forward passes per step
    assert all(state == (False, False, None) for state in seen)


def test_every_pass_sees_the_same_global_random_draws():
    # Dropout-like randomness from the global generator must not enter the differences.
    a, b, _, opt = setup(rho=MU, num_samples=3, generator=0)
    torch.manual_seed(123)
    noise = torch.rand((), dtype=torch.float64)
    after_one_draw = torch.get_rng_state()
    torch.manual_seed(123)
    out = opt.step(lambda: loss(torch.cat([a, b])) + torch.rand((), dtype=torch.float64))
    w, (base,) = hand(1, 1.0, 3)
    assert_close(torch.cat([a, b]).detach(), w, **TIGHT)
    assert_close(out, base + noise, **TIGHT)
    assert torch.equal(torch.get_rng_state(), after_one_draw)


def test_defaults():
    _, _, _, opt = setup()
    assert (opt.tilt, opt.num_samples, opt.param_groups[0]["rho"]) == (1.0, 4, 1e-3)


def test_used_parameters_are_found_without_a_graph():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    net.spare = torch.nn.Parameter(torch.zeros(2))
    tracer = UsedParameters(net.parameters())
    with torch.no_grad(), tracer:
        net(torch.randn(4, 3)).sum()
    used = {name for name, p in net.named_parameters() if id(p) in tracer.seen}
    assert used == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_perturbed_passes_do_not_update_batchnorm():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    twin = copy.deepcopy(model)
    x = torch.randn(16, 3)
    opt = create_optimizer(model, "zo-tsam", lr=0.01, generator=0)
    opt.step(lambda: model(x).pow(2).mean())
    with torch.no_grad():
        twin(x)  # one training-mode forward at w: the statistics the step must leave
    assert int(model[1].num_batches_tracked) == 1
    assert torch.equal(model[1].running_mean, twin[1].running_mean)
    assert torch.equal(model[1].running_var, twin[1].running_var)


def test_state_dict_continues_bit_identically():
    def make(seed):
        a, b, _, opt = setup(generator=seed)
        return (a, b), opt, lambda: loss(torch.cat([a, b]))

    assert_state_round_trip(make, seeds=(2, 9), before=2, after=3)


@pytest.mark.parametrize(("arg", "value"), [("tilt", -1.0), ("num_samples", 0), ("rho", -1e-3)])
def test_invalid_hyper_parameters_are_refused(arg, value):
    with pytest.raises(ValueError, match=arg):
        ZerothOrderTiltedSAM([torch.nn.Parameter(W0.clone())], "sgd", lr=0.1, **{arg: value})


def test_converges_on_least_squares_from_forward_passes_only():
    reduction = least_squares_reduction(
        lambda params: ZerothOrderTiltedSAM(params, "sgd", num_samples=4, generator=0, lr=0.05),
        steps=400,
    )
    assert reduction < 1e-3


def test_grad_scaler_is_accepted_and_the_step_matches_the_unscaled_one():
    a, b, _, opt = setup(generator=0)
    a2, b2, _, plain = setup(generator=0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(2):
        opt.step(lambda: loss(torch.cat([a, b])), scaler=scaler)
        scaler.update()
        plain.step(lambda: loss(torch.cat([a2, b2])))
    assert_close(torch.cat([a, b]), torch.cat([a2, b2]), **TIGHT)
    assert scaler.get_scale() == 2.0**10
