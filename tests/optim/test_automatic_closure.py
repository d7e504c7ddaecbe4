"""Lightning's automatic-optimisation closure is recognised by every optimizer's step."""

from __future__ import annotations

import functools

import lightning.pytorch.loops.optimization.automatic as automatic  # the test extra
import pytest
import torch

from fgsam.optim.automatic_closure import AUTOMATIC, is_automatic_closure
from tests.optim.test_fault_safety import NAMES, build


def lightning_closure(problem, opt):
    """Lightning's own Closure as its automatic loop builds it: it runs backward itself."""
    gnn, _ = problem.closures(opt)

    def step_fn():
        loss = gnn()
        return automatic.ClosureResult.from_training_step_output(loss)

    def backward_fn(loss):
        loss.backward()

    return automatic.Closure(step_fn, backward_fn, opt.zero_grad)


@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_every_step_refuses_it_before_moving_a_weight(name, wrapped):
    problem, opt = build(name)
    closure = lightning_closure(problem, opt)
    if wrapped:  # what a precision plugin hands the optimizer
        closure = functools.partial(lambda c: c(), closure)
    before = problem.weights()
    with pytest.raises(RuntimeError) as info:
        opt.step(closure=closure)
    assert str(info.value) == AUTOMATIC and problem.calls == []
    assert all(torch.equal(v, problem.weights()[k]) for k, v in before.items())


def test_plain_closures_and_partials_are_not_taken_for_it():
    assert not is_automatic_closure(lambda: torch.zeros(()))
    assert not is_automatic_closure(functools.partial(sum, [1]))
    assert not is_automatic_closure(None)
