"""FGSAM against hand computations of docs/algorithms.md §2 on a 2-layer linear GNN."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from fgsam.optim import FGSAM, SAM, create_optimizer, training_step
from tests.optim.helpers import NodeRun

TOL = {"rtol": 1e-12, "atol": 1e-14}
DT = torch.float64

# A fixed 4-node graph (path 0-1-2-3 plus the edge 0-2), with self-loops, normalised
# symmetrically: Â = D^-1/2 (A + I) D^-1/2.
ADJ = torch.tensor(
    [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 1]], dtype=DT
)
DEG = ADJ.sum(1)
A_HAT = ADJ / torch.sqrt(DEG[:, None] * DEG[None, :])
X = torch.tensor(
    [[1.0, 0.5, -0.3], [0.2, -1.0, 0.8], [-0.7, 0.4, 0.1], [0.3, 0.9, -0.5]], dtype=DT
)
NODES = torch.tensor([0, 2, 3])  # the nodes that carry the loss
Y = torch.tensor([[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4]], dtype=DT)
W1_0 = torch.tensor([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.6]], dtype=DT)
W2_0 = torch.tensor([[0.7, 0.1], [-0.4, 0.9]], dtype=DT)


class LinearGNN(torch.nn.Module):
    """``Â X W1 W2`` (GNN) and ``X W1 W2`` (its PeerMLP)."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = torch.nn.Parameter(W1_0.clone())
        self.w2 = torch.nn.Parameter(W2_0.clone())

    def gnn_loss(self) -> torch.Tensor:
        out = (A_HAT @ X @ self.w1 @ self.w2)[NODES]
        return 0.5 * (out - Y).pow(2).sum()

    def mlp_loss(self) -> torch.Tensor:
        return 0.5 * (X[NODES] @ self.w1 @ self.w2 - Y).pow(2).sum()


# ------------------------------------------------------------- the hand side
def grads(h: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> list[torch.Tensor]:
    """Closed form of ∇ ½‖H W1 W2 − Y‖²: (Hᵀ R W2ᵀ, (H W1)ᵀ R), R the residual."""
    r = h @ w1 @ w2 - Y
    return [h.T @ r @ w2.T, (h @ w1).T @ r]


H_GNN = (A_HAT @ X)[NODES]
H_MLP = X[NODES]


def norm(v: list[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((x * x).sum() for x in v))


def hand_fgsam(w: list[torch.Tensor], rho: float, lr: float, a: float, b: float) -> list:
    """One FGSAM step with SGD: d = a g_gnn + b g_s."""
    g = grads(H_GNN, *w)
    n = norm(g)
    eps = [rho * x / (n + 1e-12) for x in g]
    g_s = grads(H_MLP, *(wi + e for wi, e in zip(w, eps)))
    return [wi - lr * (a * gi + b * si) for wi, gi, si in zip(w, g, g_s)]


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize(("lam", "convex"), [(1.0, False), (0.3, False), (0.5, True)])
def test_one_step_matches_hand_computation(lam: float, convex: bool) -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), torch.optim.SGD, rho=0.05, lam=lam, convex=convex, lr=0.1)
    loss = opt.step(model.gnn_loss, model.mlp_loss)
    a, b = (1.0 - lam, lam) if convex else (lam, 1.0)
    want = hand_fgsam([W1_0, W2_0], 0.05, 0.1, a, b)
    torch.testing.assert_close(model.w1.detach(), want[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), want[1], **TOL)
    r = H_GNN @ W1_0 @ W2_0 - Y
    torch.testing.assert_close(loss, 0.5 * (r * r).sum(), **TOL)


def test_two_steps_match_hand_computation() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", rho=0.2, lr=0.05)
    w = [W1_0, W2_0]
    for _ in range(2):
        opt.step(model.gnn_loss, model.mlp_loss)
        w = hand_fgsam(w, 0.2, 0.05, 1.0, 1.0)
    torch.testing.assert_close(model.w1.detach(), w[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), w[1], **TOL)


def test_without_message_passing_and_lam_zero_equals_sam_step_for_step() -> None:
    a, b = LinearGNN(), LinearGNN()
    fgsam = FGSAM(a.parameters(), torch.optim.Adam, rho=0.1, lam=0.0, lr=0.05)
    sam = SAM(b.parameters(), torch.optim.Adam, rho=0.1, lr=0.05)
    for _ in range(5):
        # GNN == PeerMLP: both closures are the MLP loss.
        la = fgsam.step(a.mlp_loss, a.mlp_loss)
        lb = sam.step(b.mlp_loss)
        torch.testing.assert_close(la, lb, rtol=0, atol=0)
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_perturb_false_group_is_updated_but_not_perturbed() -> None:
    model = LinearGNN()
    opt = FGSAM(
        [{"params": [model.w1]}, {"params": [model.w2], "perturb": False}], "sgd",
        rho=0.1, lr=0.1,
    )
    opt.step(model.gnn_loss, model.mlp_loss)
    g = grads(H_GNN, W1_0, W2_0)
    eps1 = 0.1 * g[0] / (torch.linalg.norm(g[0]) + 1e-12)  # the norm of w1's gradient only
    g_s = grads(H_MLP, W1_0 + eps1, W2_0)
    torch.testing.assert_close(model.w1.detach(), W1_0 - 0.1 * (g[0] + g_s[0]), **TOL)
    torch.testing.assert_close(model.w2.detach(), W2_0 - 0.1 * (g[1] + g_s[1]), **TOL)


def test_per_group_rho() -> None:
    model = LinearGNN()
    opt = FGSAM([{"params": [model.w1], "rho": 0.3}, {"params": [model.w2]}], "sgd",
                rho=0.1, lr=0.1)
    opt.step(model.gnn_loss, model.mlp_loss)
    g = grads(H_GNN, W1_0, W2_0)
    n = norm(g)
    g_s = grads(H_MLP, W1_0 + 0.3 * g[0] / (n + 1e-12), W2_0 + 0.1 * g[1] / (n + 1e-12))
    torch.testing.assert_close(model.w1.detach(), W1_0 - 0.1 * (g[0] + g_s[0]), **TOL)
    torch.testing.assert_close(model.w2.detach(), W2_0 - 0.1 * (g[1] + g_s[1]), **TOL)


def test_manual_first_and_second_step_equal_step() -> None:
    a, b = LinearGNN(), LinearGNN()
    auto = FGSAM(a.parameters(), "adam", lr=0.05, lam=0.7)
    manual = FGSAM(b.parameters(), "adam", lr=0.05, lam=0.7)
    for _ in range(3):
        auto.step(a.gnn_loss, a.mlp_loss)
        b.gnn_loss().backward()
        manual.first_step(zero_grad=True)
        b.mlp_loss().backward()
        manual.second_step(zero_grad=True)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, **TOL)


def test_max_grad_norm_clips_the_descent_direction() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", rho=0.05, lr=0.1, max_grad_norm=0.01)
    opt.step(model.gnn_loss, model.mlp_loss)
    g = grads(H_GNN, W1_0, W2_0)
    n = norm(g)
    g_s = grads(H_MLP, *(w + 0.05 * x / (n + 1e-12) for w, x in zip([W1_0, W2_0], g)))
    d = [x + y for x, y in zip(g, g_s)]
    c = 0.01 / (norm(d) + 1e-6)  # torch.nn.utils.clip_grad_norm_'s formula
    assert c < 1
    torch.testing.assert_close(model.w1.detach(), W1_0 - 0.1 * c * d[0], **TOL)
    torch.testing.assert_close(model.w2.detach(), W2_0 - 0.1 * c * d[1], **TOL)


def test_zero_gradient_gives_zero_perturbation() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", rho=0.5, lr=0.1)
    zero = lambda: 0.0 * model.gnn_loss()  # noqa: E731
    opt.step(zero, model.mlp_loss)
    g = grads(H_MLP, W1_0, W2_0)  # no perturbation: the PeerMLP gradient at w
    assert torch.isfinite(model.w1).all()
    torch.testing.assert_close(model.w1.detach(), W1_0 - 0.1 * g[0], **TOL)


def test_amp_scaler_gives_the_same_step() -> None:
    a, b = LinearGNN(), LinearGNN()
    plain = FGSAM(a.parameters(), "sgd", lr=0.1, lam=0.5)
    scaled = FGSAM(b.parameters(), "sgd", lr=0.1, lam=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(2):
        plain.step(a.gnn_loss, a.mlp_loss)
        scaled.step(b.gnn_loss, b.mlp_loss, scaler=scaler)
        scaler.update()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, **TOL)


def test_overflow_with_scaler_skips_the_step_and_lowers_the_scale() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    inf_loss = lambda: model.mlp_loss() * math.inf  # noqa: E731
    opt.step(model.gnn_loss, inf_loss, scaler=scaler)
    scaler.update()
    assert scaler.get_scale() < 2.0**10
    torch.testing.assert_close(model.w1.detach(), W1_0, rtol=0, atol=0)
    torch.testing.assert_close(model.w2.detach(), W2_0, rtol=0, atol=0)
    assert opt.global_state["step"] == 0


def test_non_finite_loss_raises_and_leaves_weights() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", lr=0.1)
    nan_loss = lambda: model.mlp_loss() * math.nan  # noqa: E731
    with pytest.raises(FloatingPointError, match="PeerMLP"):
        opt.step(model.gnn_loss, nan_loss)
    torch.testing.assert_close(model.w1.detach(), W1_0, rtol=0, atol=0)


class BNNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 4, dtype=DT)
        self.bn = torch.nn.BatchNorm1d(4, dtype=DT)
        self.out = torch.nn.Linear(4, 2, dtype=DT)

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        h = self.lin(x if a is None else a @ x)
        return self.out(torch.relu(self.bn(h)))


def test_batchnorm_statistics_come_from_the_gnn_pass_only() -> None:
    model = BNNet()
    reference = copy.deepcopy(model)
    opt = FGSAM(model.parameters(), "sgd", lr=0.1, model=model)
    gnn = lambda: model(X, A_HAT)[NODES].sum()  # noqa: E731
    mlp = lambda: model(X[NODES]).sum()  # noqa: E731
    opt.step(gnn, mlp)
    reference(X, A_HAT)  # one training-mode GNN forward
    torch.testing.assert_close(model.bn.running_mean, reference.bn.running_mean, **TOL)
    torch.testing.assert_close(model.bn.running_var, reference.bn.running_var, **TOL)
    assert int(model.bn.num_batches_tracked) == 1


def test_parameter_missing_from_the_peer_pass_descends_with_lam_g_gnn() -> None:
    model = LinearGNN()
    extra = torch.nn.Parameter(torch.tensor([0.5], dtype=DT))  # used by the GNN loss only
    opt = FGSAM([*model.parameters(), extra], "sgd", rho=0.0, lam=0.5, lr=0.1)
    opt.step(lambda: model.gnn_loss() + 2.0 * extra.sum(), model.mlp_loss)
    torch.testing.assert_close(extra.detach(), torch.tensor([0.5 - 0.1 * 0.5 * 2.0], dtype=DT),
                               **TOL)


def test_state_dict_round_trip_continues_identically() -> None:
    a = LinearGNN()
    opt = FGSAM(a.parameters(), "adam", lr=0.05)
    opt.step(a.gnn_loss, a.mlp_loss)
    b = copy.deepcopy(a)
    opt_b = FGSAM(b.parameters(), "adam", lr=0.05)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))
    opt.step(a.gnn_loss, a.mlp_loss)
    opt_b.step(b.gnn_loss, b.mlp_loss)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1.0}, "lam"),
        ({"lam": 1.5, "convex": True}, r"lam must be in \[0.0, 1.0\]"),
        ({"rho": -0.1}, "rho"),
        ({"convex": "yes"}, "convex"),
    ],
)
def test_bad_hyper_parameters_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FGSAM(LinearGNN().parameters(), "adam", **kwargs)


def test_step_needs_both_closures() -> None:
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "adam")
    with pytest.raises(ValueError, match="peer_closure"):
        opt.step(model.gnn_loss)
    with pytest.raises(ValueError, match="peer_closure"):
        training_step(opt, model.gnn_loss)


def test_registry_and_repr() -> None:
    model = LinearGNN()
    opt = create_optimizer(model, "fgsam", lr=0.01, lam=0.5)
    assert isinstance(opt, FGSAM) and opt.model is model and opt.num_closures == 2
    text = repr(opt)
    assert "FGSAM(base=Adam" in text and "lam=0.5" in text and "rho=0.05" in text


def test_converges_on_node_classification() -> None:
    run = NodeRun(lambda model: FGSAM(model.parameters(), "adam", lr=0.02, model=model))
    assert run.losses[-1] < 0.2 * run.first
    assert run.test_accuracy > 0.9


def test_mix_is_a_deprecated_alias_of_before_descend():
    opt = FGSAM([torch.nn.Parameter(torch.ones(2))], "sgd", lr=0.1)
    with pytest.warns(DeprecationWarning, match="before_descend"):
        opt.mix()


def test_functional_is_a_deprecated_alias_of_vectors():
    import importlib
    import sys

    sys.modules.pop("fgsam.optim.functional", None)
    with pytest.warns(DeprecationWarning, match="vectors"):
        functional = importlib.import_module("fgsam.optim.functional")
    from fgsam.optim import vectors

    assert functional.global_norm is vectors.global_norm and functional.EPS == vectors.EPS


def test_step_takes_the_torch_optim_keywords_and_the_old_ones_with_a_warning() -> None:
    import warnings

    results = []
    for call in (
        lambda opt, m: opt.step(m.gnn_loss, m.mlp_loss),
        lambda opt, m: opt.step(closure=m.gnn_loss, peer_closure=m.mlp_loss),
        lambda opt, m: opt.step(gnn_closure=m.gnn_loss, mlp_closure=m.mlp_loss),
    ):
        torch.manual_seed(0)
        model = LinearGNN()
        opt = FGSAM(model.parameters(), "sgd", lr=0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(opt, model)
        weights = [p.detach().clone() for p in model.parameters()]
        results.append(([str(w.message) for w in caught], weights))
    assert results[0][0] == [] and results[1][0] == []
    assert any("mlp_closure=...) is deprecated; use peer_closure=" in m for m in results[2][0])
    assert any("gnn_closure=...) is deprecated; use closure=" in m for m in results[2][0])
    for _, weights in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0][1], weights))
    model = LinearGNN()
    opt = FGSAM(model.parameters(), "sgd", lr=0.1)
    with warnings.catch_warnings(), pytest.raises(TypeError, match="both peer_closure and mlp"):
        warnings.simplefilter("ignore")
        opt.step(model.gnn_loss, model.mlp_loss, mlp_closure=model.mlp_loss)
    with pytest.raises(TypeError, match="unexpected keyword argument 'peer'"):
        opt.step(model.gnn_loss, peer=model.mlp_loss)
