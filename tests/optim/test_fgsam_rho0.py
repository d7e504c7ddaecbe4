"""fgsam-rho0 (FGSAM at ρ = 0) against hand computations on the 2-layer linear GNN."""

from __future__ import annotations

import pytest
import torch

from fgsam.optim import FGSAMRho0, create_optimizer, optimizer_arguments
from tests.optim.helpers import NodeRun
from tests.optim.test_fgsam import H_GNN, H_MLP, TOL, W1_0, W2_0, LinearGNN, grads


def hand_joint(w, lr, lam):
    """d = λ g_gnn(w) + g_mlp(w), one SGD step."""
    g, m = grads(H_GNN, *w), grads(H_MLP, *w)
    return [wi - lr * (lam * gi + mi) for wi, gi, mi in zip(w, g, m)]


@pytest.mark.parametrize("lam", [1.0, 0.3])
def test_two_steps_match_hand_computation(lam):
    model = LinearGNN()
    opt = FGSAMRho0(model.parameters(), "sgd", lam=lam, lr=0.05)
    w = [W1_0, W2_0]
    for _ in range(2):
        opt.step(model.gnn_loss, model.mlp_loss)
        w = hand_joint(w, 0.05, lam)
    torch.testing.assert_close(model.w1.detach(), w[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), w[1], **TOL)


def test_the_runs_radius_does_not_reach_it_and_its_own_is_refused():
    assert optimizer_arguments("fgsam-rho0", rho=0.2) == {"rho": 0.0}
    opt = create_optimizer(torch.nn.Linear(2, 1), "fgsam-rho0", rho=0.2, lr=0.1)
    assert opt.param_groups[0]["rho"] == 0.0
    with pytest.raises(ValueError, match="fgsam-rho0 has rho=0 by definition, got rho=0.1"):
        FGSAMRho0(torch.nn.Linear(2, 1).parameters(), "sgd", rho=0.1, lr=0.1)
    with pytest.raises(ValueError, match="rho"):
        optimizer_arguments("fgsam-rho0", rho=-1.0)


def test_converges_on_node_classification():
    run = NodeRun(lambda model: create_optimizer(model, "fgsam-rho0", lr=0.02))
    assert run.last < 0.2 * run.first
    assert run.test_accuracy > 0.8
