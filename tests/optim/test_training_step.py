"""training_step drives plain and sharpness-aware optimizers the same way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fgsam.optim import SAM, training_step
from fgsam.optim.base import SharpnessAwareOptimizer

torch.manual_seed(0)
X, Y = torch.randn(8, 3), torch.randint(0, 2, (8,))


def twins():
    torch.manual_seed(0)
    net, twin = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    twin.load_state_dict(net.state_dict())
    return net, twin


def loss_of(net):
    return lambda: F.cross_entropy(net(X), Y)


def test_plain_optimizer_step_equals_the_manual_loop():
    net, twin = twins()
    loss = training_step(torch.optim.SGD(net.parameters(), lr=0.1), loss_of(net))
    manual = torch.optim.SGD(twin.parameters(), lr=0.1)
    manual_loss = loss_of(twin)()
    manual_loss.backward()
    manual.step()
    assert torch.equal(loss, manual_loss.detach())
    assert torch.equal(net.weight, twin.weight)


def test_sharpness_aware_optimizer_gets_the_closure():
    net, twin = twins()
    training_step(SAM(net.parameters(), "sgd", lr=0.1), loss_of(net))
    SAM(twin.parameters(), "sgd", lr=0.1).step(loss_of(twin))
    assert torch.equal(net.weight, twin.weight)


def test_two_closure_optimizers_demand_the_peer_closure():
    class TwoClosures(SharpnessAwareOptimizer):
        num_closures = 2

    net, _ = twins()
    with pytest.raises(ValueError, match="peer_closure"):
        training_step(TwoClosures(net.parameters(), "sgd", lr=0.1), loss_of(net))
