"""sam-peer-ascent (ε from the PeerMLP, descent through the GNN) against hand computations."""

from __future__ import annotations

import torch

from fgsam.optim import PeerAscentSAM, create_optimizer
from tests.optim.helpers import NodeRun
from tests.optim.test_fgsam import H_GNN, H_MLP, TOL, W1_0, W2_0, LinearGNN, Y, grads, norm


def hand_step(w, rho, lr):
    """ε = ρ g_mlp(w) / ‖g_mlp(w)‖, then an SGD step on g_gnn(w + ε)."""
    m = grads(H_MLP, *w)
    n = norm(m)
    moved = [wi + rho * mi / (n + 1e-12) for wi, mi in zip(w, m)]
    return [wi - lr * gi for wi, gi in zip(w, grads(H_GNN, *moved))]


def test_two_steps_match_hand_computation_and_return_the_peer_loss():
    model = LinearGNN()
    opt = PeerAscentSAM(model.parameters(), "sgd", rho=0.2, lr=0.05)
    w = [W1_0, W2_0]
    for _ in range(2):
        peer_loss = 0.5 * (H_MLP @ w[0] @ w[1] - Y).pow(2).sum()
        torch.testing.assert_close(opt.step(model.gnn_loss, model.mlp_loss), peer_loss, **TOL)
        w = hand_step(w, 0.2, 0.05)
    torch.testing.assert_close(model.w1.detach(), w[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), w[1], **TOL)


def test_converges_on_node_classification():
    run = NodeRun(lambda model: create_optimizer(model, "sam-peer-ascent", lr=0.02))
    assert run.opt.num_closures == 2 and not run.opt.manual_steps
    assert run.last < 0.2 * run.first
    assert run.test_accuracy > 0.8
