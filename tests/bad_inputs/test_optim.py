"""Bad optimizer inputs, one case each: refused with the exact error type and a one-line
message that names the argument and the bad value (and says what would be valid).

Hyper-parameters are refused at construction with ``ValueError``; a closure that returns
something other than the loss with ``TypeError``; manual-step misuse with ``RuntimeError``.
"""

from __future__ import annotations

import re

import pytest
import torch

from fgsam.optim import (
    FGSAM,
    SAM,
    SSAMD,
    FGSAMPlus,
    LookSAM,
    TiltedSAM,
    create_optimizer,
    optimizer_arguments,
)


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))]


def _raises(error: type[BaseException], message: str):
    """``pytest.raises`` for ``error`` whose one-line message contains ``message``."""
    return pytest.raises(error, match=re.escape(message))


def _one_line(info: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(info.value)


def test_negative_rho():
    with _raises(ValueError, "rho must be a finite number >= 0, got -0.1") as info:
        SAM(_params(), "sgd", rho=-0.1, lr=0.1)
    _one_line(info)


def test_nan_rho():
    with _raises(ValueError, "rho must be a finite number >= 0, got nan") as info:
        SAM(_params(), "sgd", rho=float("nan"), lr=0.1)
    _one_line(info)


def test_negative_learning_rate():
    with _raises(ValueError, "lr must be a finite number >= 0, got -0.01") as info:
        SAM(_params(), "adam", lr=-0.01)
    _one_line(info)


def test_zero_max_grad_norm():
    with _raises(ValueError, "max_grad_norm must be a positive number or None, got 0"):
        SAM(_params(), "sgd", lr=0.1, max_grad_norm=0)


def test_model_that_is_not_a_module():
    with _raises(ValueError, "model must be a torch.nn.Module or None, got 'gcn' (str)"):
        SAM(_params(), "sgd", lr=0.1, model="gcn")


def test_unknown_base_optimizer_name():
    with _raises(ValueError, "base_optimizer 'adamm' is not a torch.optim optimizer; "
                             "valid names: ") as info:
        SAM(_params(), "adamm", lr=0.1)
    assert "adam" in str(info.value).split("valid names:")[1]


def test_unknown_registry_name():
    with _raises(ValueError, "unknown optimizer 'samm'; sharpness-aware: ") as info:
        create_optimizer(torch.nn.Linear(2, 1), "samm", lr=0.1)
    assert "sam" in str(info.value).split("sharpness-aware:")[1]


def test_zero_k_for_fgsam_plus():
    with _raises(ValueError, "k must be an integer >= 1, got 0"):
        FGSAMPlus(_params(), "adam", k=0, lr=0.1)


def test_zero_k_for_looksam():
    with _raises(ValueError, "k must be an integer >= 1, got 0"):
        LookSAM(_params(), "adam", k=0, lr=0.1)


def test_sparsity_above_one_for_ssam():
    with _raises(ValueError, "sparsity must be in [0.0, 1.0], got 1.5"):
        SSAMD(_params(), "sgd", sparsity=1.5, lr=0.1)


def test_zero_samples_for_tsam():
    with _raises(ValueError, "num_samples must be an integer >= 1, got 0"):
        TiltedSAM(_params(), "sgd", num_samples=0, lr=0.1)


def test_seed_that_is_not_an_int():
    with _raises(ValueError, "seed must be an int or None, got '0'"):
        optimizer_arguments("rwp", seed="0")


def test_closure_returning_a_vector():
    w = _params()[0]
    opt = SAM([w], "sgd", lr=0.1)
    with _raises(TypeError, "the ascent closure must return the loss as a one-element tensor, "
                            "got Tensor of shape (3,)") as info:
        opt.step(lambda: w * w)
    _one_line(info)
    assert not opt.is_perturbed


def test_closure_returning_none():
    w = _params()[0]
    opt = SAM([w], "sgd", lr=0.1)
    calls = []

    def closure():  # the loss at w, then nothing at w + eps
        calls.append(1)
        return (w * w).sum() if len(calls) == 1 else None

    before = w.detach().clone()
    with _raises(TypeError, "the descent closure must return the loss as a one-element "
                            "tensor, got None"):
        opt.step(closure)
    assert torch.equal(w.detach(), before) and not opt.is_perturbed


def test_step_without_a_closure():
    with _raises(ValueError, "SAM.step needs a closure that evaluates the model and returns "
                             "the loss (without calling backward), got None"):
        SAM(_params(), "sgd", lr=0.1).step()


def test_step_without_the_peer_closure():
    w = _params()[0]
    with _raises(ValueError, "FGSAM.step needs a peer_closure (the PeerMLP loss)"):
        FGSAM([w], "sgd", lr=0.1).step(lambda: (w * w).sum())


def test_first_step_twice():
    w = _params()[0]
    opt = SAM([w], "sgd", lr=0.1)
    (w * w).sum().backward()
    opt.first_step(zero_grad=True)
    with _raises(RuntimeError, "SAM.first_step() called again while the weights are "
                               "perturbed (1 of 1 ascent step(s) taken)") as info:
        opt.first_step()
    _one_line(info)
    assert "second_step()" in str(info.value)


def test_second_step_without_first_step():
    with _raises(RuntimeError, "SAM.second_step() called without a preceding first_step(): "
                               "call loss.backward() and first_step() first") as info:
        SAM(_params(), "sgd", lr=0.1).second_step()
    _one_line(info)


def test_state_dict_between_first_and_second_step():
    w = _params()[0]
    opt = SAM([w], "sgd", lr=0.1)
    (w * w).sum().backward()
    opt.first_step()
    with _raises(RuntimeError, "SAM.state_dict() called between first_step() and "
                               "second_step(), while the weights are perturbed"):
        opt.state_dict()


def test_load_state_dict_of_a_foreign_dict():
    params = _params()
    opt = SAM(params, "adam", lr=0.1)
    foreign = torch.optim.Adam(params, lr=0.1).state_dict()
    with _raises(ValueError, "state_dict was not saved by a SAM: it lacks the keys "
                             "'base_optimizer' and 'global_state' (keys found: "
                             "['param_groups', 'state'])"):
        opt.load_state_dict(foreign)


def test_load_state_dict_of_something_that_is_not_a_dict():
    with _raises(ValueError, "state_dict must be a dict saved by SAM.state_dict(), got list"):
        SAM(_params(), "sgd", lr=0.1).load_state_dict([])
