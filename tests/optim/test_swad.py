"""SWAD's validation-driven averaging window and its BatchNorm update (docs/algorithms.md §4)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel
from torch.testing import assert_close

from fgsam.optim import SWAD
from fgsam.optim.swad import check_swad_options

# Validation losses at evaluations 0..11, two steps between evaluations.
LOSSES = [5.0, 4.0, 3.0, 3.5, 3.2, 3.6, 3.1, 4.5, 5.0, 5.0, 5.0, 5.0]


class Scalar(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))


def drive(swad, model, losses, steps_per_eval=2, first_step=0):
    """Weights w_t = t at step t; an evaluation after every ``steps_per_eval`` steps."""
    t = first_step
    for value in losses:
        for _ in range(steps_per_eval):
            with torch.no_grad():
                model.w.fill_(t)
            swad.update_parameters(model)
            t += 1
        swad.report_validation(value)
    return t


def test_window_by_hand():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=3, tolerance_ratio=1.3)
    drive(swad, model, LOSSES)
    # Start: evaluation 2 (3.0 is the lowest of 3.0, 3.5, 3.2); threshold 1.3 * 3.0 = 3.9.
    # Segment k stays while min(l_k, l_k+1, l_k+2) <= 3.9: k = 2..6; k = 7 (4.5, 5, 5) ends it.
    assert (swad.start, swad.end, swad.phase) == (2, 7, "ended")
    averaged = swad.finalize()
    assert isinstance(averaged, AveragedModel)
    # Segment k holds steps 2k and 2k+1: steps 4..13 are averaged.
    assert swad.n_averaged == 10
    assert_close(averaged.module.w, torch.tensor([8.5], dtype=torch.float64), rtol=1e-14,
                 atol=0)


def test_window_and_record_name_the_averaged_evaluations():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=3, tolerance_ratio=1.3)
    drive(swad, model, LOSSES[:4])
    assert swad.window is None  # the start is known, no segment decided yet
    drive(swad, model, LOSSES[4:], first_step=8)
    assert swad.window == (2, 6)  # segments 2..6; segment 7 ended the window
    record = swad.as_dict()
    assert record == {"n_converge": 3, "n_tolerance": 3, "tolerance_ratio": 1.3,
                      "phase": "ended", "start": 2, "last": 6, "end": 7, "n_averaged": 10,
                      "validation_losses": LOSSES}
    twin = SWAD(Scalar(), n_converge=3, n_tolerance=3)
    twin.load_state_dict(copy.deepcopy(swad.state_dict()))
    assert twin.window == (2, 6) and twin.as_dict() == record


def test_options_are_checked_by_name_and_value():
    assert check_swad_options(None) == {}
    assert check_swad_options({"n_converge": 2, "tolerance_ratio": 1.1}) == {
        "n_converge": 2, "tolerance_ratio": 1.1}
    with pytest.raises(ValueError, match="SWAD has no option 'patience'; valid options: "
                                         "n_converge, n_tolerance, tolerance_ratio"):
        check_swad_options({"patience": 3})
    with pytest.raises(ValueError, match="tolerance_ratio must be a finite number >= 1"):
        check_swad_options({"tolerance_ratio": 0.5})


def test_steps_after_the_end_cost_nothing():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=3)
    drive(swad, model, LOSSES)
    assert swad.phase == "ended" and not swad.pending
    swad.update_parameters(model)
    assert swad.current.count == 0 and not swad.current.sums


def test_pending_segments_are_bounded():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=6)
    for value in [1.0] * 30:
        drive(swad, model, [value])
        assert len(swad.pending) <= 6


def test_finalize_decides_the_last_segments_with_the_evaluations_there_are():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=6, tolerance_ratio=1.3)
    drive(swad, model, [5.0, 4.0, 3.0, 3.4, 3.3, 3.8])
    assert swad.phase == "averaging" and swad.n_averaged == 0  # nothing decided yet
    swad.finalize()
    # Start 2, threshold 3.9, every later loss within it: segments 2..5, steps 4..11.
    assert swad.n_averaged == 8
    assert_close(swad.averaged_model.module.w, torch.tensor([7.5], dtype=torch.float64))


def test_still_improving_at_the_end_warns_and_starts_at_the_last_evaluation():
    model = Scalar()
    swad = SWAD(model, n_converge=3)
    drive(swad, model, [5.0, 4.0, 3.0, 2.0])
    with pytest.warns(UserWarning, match="still improving"):
        swad.finalize()
    assert swad.start == 3 and swad.n_averaged == 2
    assert_close(swad.averaged_model.module.w, torch.tensor([6.5], dtype=torch.float64))


def test_steps_after_the_last_evaluation_are_not_averaged():
    model = Scalar()
    swad = SWAD(model, n_converge=1, n_tolerance=1)
    end = drive(swad, model, [1.0, 1.0])
    with torch.no_grad():
        model.w.fill_(1000.0)
    swad.update_parameters(model)  # no validation loss for this one
    swad.finalize()
    assert swad.n_averaged == end
    assert_close(swad.averaged_model.module.w, torch.tensor([1.5], dtype=torch.float64))


def test_state_dict_round_trip_continues_identically():
    model = Scalar()
    swad = SWAD(model, n_converge=3, n_tolerance=3)
    t = drive(swad, model, LOSSES[:5])
    saved = copy.deepcopy(swad.state_dict())
    twin = SWAD(Scalar(), n_converge=3, n_tolerance=3)
    twin.load_state_dict(saved)
    drive(swad, model, LOSSES[5:], first_step=t)
    drive(twin, model, LOSSES[5:], first_step=t)
    assert torch.equal(swad.finalize().module.w, twin.finalize().module.w)
    assert (twin.start, twin.end, twin.n_averaged) == (swad.start, swad.end, swad.n_averaged)


def _bn_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_batchnorm_statistics_are_recomputed_for_the_average():
    net = _bn_net()
    x = torch.randn(32, 3)
    swad = SWAD(net, n_converge=1, n_tolerance=1)
    weights = []
    for scale in (1.0, 3.0):
        with torch.no_grad():
            net[0].weight.mul_(scale)
        weights.append(net[0].weight.detach().clone())
        swad.update_parameters(net)
        swad.report_validation(1.0)
    with pytest.raises(ValueError, match="BatchNorm"):
        swad.finalize()
    module = swad.finalize(forward=lambda m: m(x)).module
    assert_close(module[0].weight, (weights[0] + weights[1]) / 2)
    hidden = x @ module[0].weight.T + module[0].bias
    assert_close(module[1].running_mean, hidden.mean(0).detach())
    assert_close(module[1].running_var, hidden.var(0).detach())  # unbiased, as BatchNorm keeps
    assert module.training  # the training mode is restored

    loader = [(x[:16], None), (x[16:], None)]
    via_update_bn = swad.finalize(loader=loader).module
    assert_close(via_update_bn[1].running_mean, hidden.mean(0).detach())


def test_averaged_model_follows_averagedmodel_conventions():
    net = torch.nn.Linear(2, 1)
    swad = SWAD(net, n_converge=1, n_tolerance=1)
    swad.update_parameters(net)
    swad.report_validation(0.5)
    averaged = swad.finalize()
    assert int(averaged.n_averaged) == 1
    x = torch.randn(3, 2)
    assert_close(averaged(x), net(x))
    assert "n_averaged=1" in repr(swad) and "start=1" in repr(swad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_converge": 0}, "n_converge"), ({"n_tolerance": 1.5}, "n_tolerance"),
     ({"tolerance_ratio": 0.9}, "tolerance_ratio")],
)
def test_invalid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SWAD(Scalar(), **kwargs)


def test_finalize_without_evaluations_says_what_to_do():
    swad = SWAD(Scalar())
    with pytest.raises(RuntimeError, match="report_validation"):
        swad.finalize()
    with pytest.raises(ValueError, match="NaN"):
        swad.report_validation(float("nan"))


def test_average_of_noisy_sgd_beats_its_last_iterate():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g, dtype=torch.float64)
    y = x @ torch.randn(5, generator=g, dtype=torch.float64)
    y = y + 0.5 * torch.randn(256, generator=g, dtype=torch.float64)  # label noise
    best = torch.linalg.lstsq(x, y[:, None]).solution.squeeze(1)
    model = torch.nn.Linear(5, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    swad = SWAD(model, n_converge=3, n_tolerance=6)

    def excess(m):  # distance of the training loss from its minimum
        with torch.no_grad():
            return float(((m(x).squeeze(1) - y) ** 2).mean() - ((x @ best - y) ** 2).mean())

    for step in range(600):
        batch = torch.randint(0, 256, (4,), generator=g)  # small batches: noisy iterates
        opt.zero_grad()
        ((model(x[batch]).squeeze(1) - y[batch]) ** 2).mean().backward()
        opt.step()
        swad.update_parameters(model)
        if step % 20 == 19:
            swad.report_validation(excess(model))
    averaged = swad.finalize().module
    assert swad.n_averaged >= 100
    assert excess(averaged) < 0.5 * excess(model)


def test_as_dict_is_a_deprecated_alias_of_to_dict():
    swad = SWAD(Scalar(), n_converge=3, n_tolerance=3)
    with pytest.warns(DeprecationWarning, match="to_dict"):
        assert swad.as_dict() == swad.to_dict()
