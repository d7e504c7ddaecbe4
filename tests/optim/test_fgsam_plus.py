"""FGSAM+ against hand computations of docs/algorithms.md §2 on a 2-layer linear GNN."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fgsam.optim import FGSAM, FGSAMPlus, create_optimizer
from tests.optim.helpers import NodeRun

TOL = {"rtol": 1e-12, "atol": 1e-14}
DT = torch.float64

# A fixed 4-node graph with self-loops, normalised symmetrically: Â = D^-1/2 (A + I) D^-1/2.
ADJ = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 1]], dtype=DT)
DEG = ADJ.sum(1)
A_HAT = ADJ / torch.sqrt(DEG[:, None] * DEG[None, :])
X = torch.tensor(
    [[1.0, 0.5, -0.3], [0.2, -1.0, 0.8], [-0.7, 0.4, 0.1], [0.3, 0.9, -0.5]], dtype=DT
)
NODES = torch.tensor([0, 2, 3])
Y = torch.tensor([[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4]], dtype=DT)
W1_0 = torch.tensor([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.6]], dtype=DT)
W2_0 = torch.tensor([[0.7, 0.1], [-0.4, 0.9]], dtype=DT)
H_GNN = (A_HAT @ X)[NODES]
H_MLP = X[NODES]


class LinearGNN(torch.nn.Module):
    """``Â X W1 W2`` (GNN, ``forward(x, a)``) and ``X W1 W2`` (PeerMLP, ``forward(x)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = torch.nn.Parameter(W1_0.clone())
        self.w2 = torch.nn.Parameter(W2_0.clone())
        self.calls = {"gnn": 0, "mlp": 0}

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        return (x if a is None else a @ x) @ self.w1 @ self.w2

    def gnn_loss(self) -> torch.Tensor:
        self.calls["gnn"] += 1
        return 0.5 * (self(X, A_HAT)[NODES] - Y).pow(2).sum()

    def mlp_loss(self) -> torch.Tensor:
        self.calls["mlp"] += 1
        return 0.5 * (self(X[NODES]) - Y).pow(2).sum()


# ------------------------------------------------------------- the hand side
def grads(h, w1, w2):
    """Closed form of ∇ ½‖H W1 W2 − Y‖²: (Hᵀ R W2ᵀ, (H W1)ᵀ R), R the residual."""
    r = h @ w1 @ w2 - Y
    return [h.T @ r @ w2.T, (h @ w1).T @ r]


def loss(h, w1, w2):
    r = h @ w1 @ w2 - Y
    return 0.5 * (r * r).sum()


def norm(v):
    return torch.sqrt(sum((x * x).sum() for x in v))


def dot(u, v):
    return sum((a * b).sum() for a, b in zip(u, v))


def reject(v, unit):
    c = dot(v, unit)
    return [a - c * b for a, b in zip(v, unit)]


def hand_exact(w, rho, lr, lam, per_tensor=False, convex=False):
    """Exact FGSAM+ step with SGD; returns (new w, g_G, g_v, GNN loss at w)."""
    g_gnn, g_mlp = grads(H_GNN, *w), grads(H_MLP, *w)
    n = norm(g_gnn)
    g_s = grads(H_MLP, *(wi + rho * g / (n + 1e-12) for wi, g in zip(w, g_gnn)))
    if per_tensor:
        units = [g / (torch.linalg.norm(g) + 1e-12) for g in g_mlp]
        g_G = [reject([a], [u])[0] for a, u in zip(g_gnn, units)]
        g_v = [reject([a], [u])[0] for a, u in zip(g_s, units)]
    else:
        unit = [g / (norm(g_mlp) + 1e-12) for g in g_mlp]
        g_G, g_v = reject(g_gnn, unit), reject(g_s, unit)
    a, b = (1 - lam, lam) if convex else (lam, 1.0)
    new = [wi - lr * (a * g + b * s) for wi, g, s in zip(w, g_gnn, g_s)]
    return new, g_G, g_v, loss(H_GNN, *w)


def hand_approx(w, g_G, g_v, lr, lam, alpha, per_tensor=False, topology=True):
    """Approximate FGSAM+ step with SGD; returns (new w, PeerMLP loss at w)."""
    g = grads(H_MLP, *w)
    if per_tensor:
        cv = [torch.linalg.norm(a) / (torch.linalg.norm(b) + 1e-12) for a, b in zip(g, g_v)]
        cg = [torch.linalg.norm(a) / (torch.linalg.norm(b) + 1e-12) for a, b in zip(g, g_G)]
    else:
        cv = [norm(g) / (norm(g_v) + 1e-12)] * 2
        cg = [norm(g) / (norm(g_G) + 1e-12)] * 2
    d = [a + alpha * c * v for a, c, v in zip(g, cv, g_v)]
    if topology:
        g_hat_gnn = [a + c * x for a, c, x in zip(g, cg, g_G)]
        d = [x + lam * y for x, y in zip(d, g_hat_gnn)]
    return [wi - lr * di for wi, di in zip(w, d)], loss(H_MLP, *w)


def assert_weights(model, w):
    torch.testing.assert_close(model.w1.detach(), w[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), w[1], **TOL)


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"per_tensor": True},
        {"topology_term": False},
        {"convex": True, "lam": 0.5},
        {"lam": 0.0},
    ],
    ids=["paper", "per_tensor", "no_topology_term", "convex", "lam0"],
)
def test_one_exact_and_two_approximate_steps_match_hand_computation(opts):
    lam, rho, lr, alpha = opts.get("lam", 0.8), 0.1, 0.05, 0.7
    kwargs = {"lam": lam, **opts}
    model = LinearGNN()
    opt = FGSAMPlus(model.parameters(), torch.optim.SGD, rho=rho, k=3, alpha=alpha, lr=lr,
                    **kwargs)
    per_tensor = opts.get("per_tensor", False)
    topology = opts.get("topology_term", True)

    assert opt.is_exact_step()
    got = opt.step(model.gnn_loss, model.mlp_loss)
    w, g_G, g_v, want = hand_exact([W1_0, W2_0], rho, lr, lam, per_tensor,
                                   opts.get("convex", False))
    torch.testing.assert_close(got, want, **TOL)
    assert_weights(model, w)
    for p, a, b in zip(model.parameters(), g_G, g_v):
        torch.testing.assert_close(opt.state[p]["g_G"], a, **TOL)
        torch.testing.assert_close(opt.state[p]["g_v"], b, **TOL)

    for _ in range(2):
        assert not opt.is_exact_step()
        got = opt.step(model.gnn_loss, model.mlp_loss)
        w, want = hand_approx(w, g_G, g_v, lr, lam, alpha, per_tensor, topology)
        torch.testing.assert_close(got, want, **TOL)  # the PeerMLP loss at w
        assert_weights(model, w)
    assert opt.is_exact_step() and opt.global_state["step"] == 3


def test_cost_over_k_steps_is_one_gnn_and_k_plus_one_mlp_passes():
    model = LinearGNN()
    opt = FGSAMPlus(model.parameters(), "adam", k=5, lr=0.01)
    for _ in range(10):
        opt.step(model.gnn_loss, model.mlp_loss)
    assert model.calls == {"gnn": 2, "mlp": 2 * 6}


def test_k_one_equals_fgsam_step_for_step():
    a, b = LinearGNN(), LinearGNN()
    plus = FGSAMPlus(a.parameters(), "adam", rho=0.05, k=1, lam=0.6, lr=0.05)
    fgsam = FGSAM(b.parameters(), "adam", rho=0.05, lam=0.6, lr=0.05)
    for _ in range(5):
        la = plus.step(a.gnn_loss, a.mlp_loss)
        lb = fgsam.step(b.gnn_loss, b.mlp_loss)
        assert torch.equal(la, lb)
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q)
    assert a.calls == b.calls == {"gnn": 5, "mlp": 5}


def test_a_fused_base_adam_takes_the_same_steps():
    # PyTorch's fused Adam (a third of the single-tensor update's cost on the CPU) is a
    # base argument like any other; it rounds differently, so within float64 noise.
    a, b = LinearGNN(), LinearGNN()
    fused = FGSAMPlus(a.parameters(), "adam", rho=0.05, k=2, lr=0.05, fused=True)
    plain = FGSAMPlus(b.parameters(), "adam", rho=0.05, k=2, lr=0.05)
    assert fused.base_optimizer.defaults["fused"] is True
    for _ in range(6):
        torch.testing.assert_close(fused.step(a.gnn_loss, a.mlp_loss),
                                   plain.step(b.gnn_loss, b.mlp_loss), rtol=1e-12, atol=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    assert not torch.equal(a.w1, W1_0)


def test_perturb_false_group_gets_plain_gradients_in_approximate_steps():
    model = LinearGNN()
    opt = FGSAMPlus([{"params": [model.w1]}, {"params": [model.w2], "perturb": False}], "sgd",
                    rho=0.1, k=2, lam=1.0, alpha=0.7, lr=0.05)
    opt.step(model.gnn_loss, model.mlp_loss)
    g_gnn, g_mlp = grads(H_GNN, W1_0, W2_0), grads(H_MLP, W1_0, W2_0)
    eps = 0.1 * g_gnn[0] / (torch.linalg.norm(g_gnn[0]) + 1e-12)
    g_s = grads(H_MLP, W1_0 + eps, W2_0)
    w = [W1_0 - 0.05 * (g_gnn[0] + g_s[0]), W2_0 - 0.05 * (g_gnn[1] + g_s[1])]
    assert_weights(model, w)
    unit = g_mlp[0] / (torch.linalg.norm(g_mlp[0]) + 1e-12)  # directions over w1 only
    g_G = g_gnn[0] - (g_gnn[0] * unit).sum() * unit
    g_v = g_s[0] - (g_s[0] * unit).sum() * unit
    assert "g_v" not in opt.state[model.w2]

    opt.step(model.gnn_loss, model.mlp_loss)
    g = grads(H_MLP, *w)
    n = torch.linalg.norm(g[0])
    d1 = g[0] + 0.7 * n / (torch.linalg.norm(g_v) + 1e-12) * g_v
    d1 = d1 + (g[0] + n / (torch.linalg.norm(g_G) + 1e-12) * g_G)
    assert_weights(model, [w[0] - 0.05 * d1, w[1] - 0.05 * g[1]])


def test_amp_scaler_gives_the_same_steps():
    a, b = LinearGNN(), LinearGNN()
    plain = FGSAMPlus(a.parameters(), "sgd", k=2, lr=0.05)
    scaled = FGSAMPlus(b.parameters(), "sgd", k=2, lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    for _ in range(4):
        plain.step(a.gnn_loss, a.mlp_loss)
        scaled.step(b.gnn_loss, b.mlp_loss, scaler=scaler)
        scaler.update()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, **TOL)
        torch.testing.assert_close(plain.state[p]["g_v"], scaled.state[q]["g_v"], **TOL)


def test_skipped_exact_step_is_retried_and_the_counter_does_not_move():
    model = LinearGNN()
    opt = FGSAMPlus(model.parameters(), "sgd", k=2, lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    opt.step(lambda: model.gnn_loss() * math.inf, model.mlp_loss, scaler=scaler)
    scaler.update()
    assert opt.global_state["step"] == 0 and opt.is_exact_step()
    assert "g_v" not in opt.state[model.w1]
    assert_weights(model, [W1_0, W2_0])
    opt.step(model.gnn_loss, model.mlp_loss, scaler=scaler)
    assert opt.global_state["step"] == 1 and not opt.is_exact_step()


def test_overflow_in_the_peer_gradient_at_w_skips_the_exact_step():
    model = LinearGNN().float()
    opt = FGSAMPlus(model.parameters(), "sgd", k=2, lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    calls = []

    def mlp():  # finite loss, but its scaled gradient overflows float32, first call only
        calls.append(1)
        out = 0.5 * (model(X[NODES].float()) - Y.float()).pow(2).sum()
        return out + (1e36 * model.w1.sum() if len(calls) == 1 else 0.0)

    gnn = lambda: 0.5 * (model(X.float(), A_HAT.float())[NODES] - Y.float()).pow(2).sum()  # noqa: E731
    opt.step(gnn, mlp, scaler=scaler)
    scaler.update()
    assert scaler.get_scale() < 2.0**10 and len(calls) == 1
    assert opt.global_state["step"] == 0 and "g_v" not in opt.state[model.w1]
    assert torch.equal(model.w1.detach(), W1_0.float())


def test_non_finite_loss_in_an_approximate_step_raises():
    model = LinearGNN()
    opt = FGSAMPlus(model.parameters(), "sgd", k=2, lr=0.05)
    opt.step(model.gnn_loss, model.mlp_loss)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="PeerMLP pass"):
        opt.step(model.gnn_loss, lambda: model.mlp_loss() * math.nan)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)


class BNNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 4, dtype=DT)
        self.bn = torch.nn.BatchNorm1d(4, dtype=DT)
        self.out = torch.nn.Linear(4, 2, dtype=DT)

    def forward(self, x, a=None):
        return self.out(torch.relu(self.bn(self.lin(x if a is None else a @ x))))


def test_batchnorm_statistics_gnn_on_exact_steps_peer_on_approximate_steps():
    model = BNNet()
    reference = copy.deepcopy(model)
    opt = FGSAMPlus(model.parameters(), "sgd", k=2, lr=0.0, model=model)  # lr 0: fixed weights
    gnn = lambda: model(X, A_HAT)[NODES].sum()  # noqa: E731
    mlp = lambda: model(X[NODES]).sum()  # noqa: E731
    opt.step(gnn, mlp)
    reference(X, A_HAT)
    torch.testing.assert_close(model.bn.running_mean, reference.bn.running_mean, **TOL)
    opt.step(gnn, mlp)
    reference(X[NODES])
    torch.testing.assert_close(model.bn.running_mean, reference.bn.running_mean, **TOL)
    torch.testing.assert_close(model.bn.running_var, reference.bn.running_var, **TOL)
    assert int(model.bn.num_batches_tracked) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be an integer >= 1, got 0"),
        ({"k": 2.0}, "k must be"),
        ({"alpha": -0.5}, "alpha"),
        ({"lam": -1.0}, "lam"),
        ({"per_tensor": 1}, "per_tensor"),
        ({"topology_term": "yes"}, "topology_term"),
        ({"authors_code": 1}, "authors_code must be True or False"),
        ({"authors_code": True, "convex": False}, "authors_code=True runs the authors. update, "
                                                  "which has convex=True; got convex=False"),
        ({"authors_code": True, "topology_term": True}, "has topology_term=False"),
    ],
)
def test_bad_hyper_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FGSAMPlus(LinearGNN().parameters(), "adam", **kwargs)


def test_registry_defaults_and_repr():
    model = LinearGNN()
    opt = create_optimizer(model, "fgsam+", lr=0.01, per_tensor=True)
    assert isinstance(opt, FGSAMPlus) and not opt.manual_steps
    assert (opt.k, opt.alpha, opt.lam, opt.param_groups[0]["rho"]) == (2, 0.7, 1.0, 0.1)
    text = repr(opt)
    assert text.startswith("FGSAMPlus(base=Adam") and "k=2" in text and "per_tensor=True" in text
    with pytest.raises(NotImplementedError):
        opt.first_step()


def test_converges_on_node_classification():
    run = NodeRun(lambda model: FGSAMPlus(model.parameters(), "adam", lr=0.02, k=3, model=model),
                  step=lambda opt, gnn, mlp: opt.step(gnn, mlp))
    assert run.last < 0.3 * run.first
    assert run.test_accuracy > 0.9


# ---------------------------------------------------------------------------- DDP
RANK_NODES = (torch.tensor([0, 1]), torch.tensor([2, 3]))
Y4 = torch.tensor([[1.0, -0.5], [0.2, 0.1], [0.3, 0.8], [-1.2, 0.4]], dtype=DT)


def _losses(model, nodes):
    def gnn():
        return 0.5 * (model(X, A_HAT)[nodes] - Y4[nodes]).pow(2).sum()

    def mlp():
        return 0.5 * (model(X[nodes]) - Y4[nodes]).pow(2).sum()

    return gnn, mlp


def _ddp_worker(rank, world, init_file, out, cls_name):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        net = LinearGNN()
        ddp = torch.nn.parallel.DistributedDataParallel(net)
        cls = FGSAMPlus if cls_name == "fgsam+" else FGSAM
        opt = cls(ddp.parameters(), "sgd", lr=0.05, rho=0.1, model=ddp)
        gnn, mlp = _losses(ddp, RANK_NODES[rank])
        for _ in range(4):
            opt.step(gnn, mlp)
        torch.save([p.detach() for p in net.parameters()], f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("cls_name", ["fgsam", "fgsam+"])
def test_ddp_two_processes_equal_one_process_on_the_averaged_loss(tmp_path, cls_name):
    out = str(tmp_path / "weights")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), out, cls_name), nprocs=2)
    w0, w1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for a, b in zip(w0, w1):
        assert torch.equal(a, b)
    # DDP averages the ranks' gradients: one process on the mean of the two losses.
    net = LinearGNN()
    cls = FGSAMPlus if cls_name == "fgsam+" else FGSAM
    opt = cls(net.parameters(), "sgd", lr=0.05, rho=0.1)
    pairs = [_losses(net, nodes) for nodes in RANK_NODES]
    for _ in range(4):
        opt.step(lambda: (pairs[0][0]() + pairs[1][0]()) / 2,
                 lambda: (pairs[0][1]() + pairs[1][1]()) / 2)
    for a, b in zip(w0, net.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-14)
