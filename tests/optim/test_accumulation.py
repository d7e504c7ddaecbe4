"""Gradient accumulation: a step over micro-batches equals the step on the full batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN

from fgsam.nn import peer_forward
from fgsam.optim import OPTIMIZERS, PROCEDURES, create_optimizer, list_optimizers, training_step
from fgsam.optim.accumulation import accumulate, accumulation_step

NAMES = [cls.name for cls in OPTIMIZERS]
PLAIN = ["sgd", "adam"]
#: Training procedures built like optimizers (F2M).
EXTRA = [cls.name for cls in PROCEDURES]
CLOSE = {"rtol": 1e-9, "atol": 1e-12}
#: Unequal micro-batches of the 20 training nodes.
SIZES = [7, 5, 8]


class Problem:
    """A 2-layer GCN in float64 on a fixed random graph, node classification."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        n, f = 40, 6
        self.y = torch.arange(n) % 2
        self.x = (torch.randn(n, f, generator=g) + self.y[:, None]).double()
        src = torch.randint(0, n, (120,), generator=g)
        dst = (src + 2 * torch.randint(1, 5, (120,), generator=g)) % n
        self.edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
        self.train = torch.randperm(n, generator=g)[:20]
        torch.manual_seed(0)
        self.model = GCN(f, 8, 2, 2).double()

    def gnn(self, per_sample: bool):
        reduction = "none" if per_sample else "mean"
        return lambda nodes: F.cross_entropy(
            self.model(self.x, self.edge_index)[nodes], self.y[nodes], reduction=reduction)

    def peer(self, per_sample: bool):
        reduction = "none" if per_sample else "mean"
        return lambda nodes: F.cross_entropy(
            peer_forward(self.model, self.x, nodes), self.y[nodes], reduction=reduction)


def make(name: str, **kwargs):
    problem = Problem()
    kwargs.setdefault("lr", 0.05)
    if name in PLAIN:
        return problem, create_optimizer(problem.model, name, **kwargs)
    options = {"k": 2} if name == "fgsam+" else {}
    return problem, create_optimizer(problem.model, name, seed=0, **options, **kwargs)


def full_step(problem: Problem, opt) -> torch.Tensor:
    per_sample = getattr(opt, "per_sample_loss", False)
    gnn, peer = problem.gnn(per_sample), problem.peer(per_sample)
    return training_step(opt, lambda: gnn(problem.train), lambda: peer(problem.train))


def micro_step(problem: Problem, opt, sizes=SIZES, weighted=True, **kwargs) -> torch.Tensor:
    per_sample = getattr(opt, "per_sample_loss", False)
    parts = list(torch.split(problem.train, sizes))
    weights = sizes if weighted and not per_sample else None
    return accumulation_step(opt, problem.gnn(per_sample), parts, problem.peer(per_sample),
                             sizes=weights, **kwargs)


def assert_same_weights(a: Problem, b: Problem) -> None:
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, **CLOSE)


def test_the_parametrisation_covers_the_whole_registry():
    assert sorted(NAMES) == list_optimizers() and len(NAMES) == 19


@pytest.mark.parametrize("name", NAMES + EXTRA + PLAIN)
def test_accumulated_steps_equal_full_batch_steps(name):
    full, full_opt = make(name)
    micro, micro_opt = make(name)
    for t in range(4):  # FGSAM+ (k=2): exact, approximate, exact, approximate
        if t % 2 == 0:  # GraphSAM: an epoch boundary, its refresh step, then a plain step
            for opt in (full_opt, micro_opt):
                getattr(opt, "start_epoch", lambda: None)()
        expected, got = full_step(full, full_opt), micro_step(micro, micro_opt)
        torch.testing.assert_close(got, expected, **CLOSE)
        assert_same_weights(full, micro)
    start = Problem().model.parameters()
    assert any((p != q).any() for p, q in zip(full.model.parameters(), start))  # it moved


@pytest.mark.parametrize("name", ["sam", "fgsam", "esam", "ssam-f", "zo-tsam", "adam"])
def test_recompute_mode_equals_the_full_batch(name):
    full, full_opt = make(name)
    micro, micro_opt = make(name)
    for _ in range(2):
        expected = full_step(full, full_opt)
        torch.testing.assert_close(micro_step(micro, micro_opt, recompute=True), expected, **CLOSE)
    assert_same_weights(full, micro)


@pytest.mark.parametrize("name", ["sam", "fgsam+"])
def test_equal_micro_batches_need_no_sizes_and_unequal_ones_do(name):
    full, full_opt = make(name)
    micro, micro_opt = make(name)
    for _ in range(2):
        expected = full_step(full, full_opt)
        got = micro_step(micro, micro_opt, sizes=[5, 5, 5, 5], weighted=False)
        torch.testing.assert_close(got, expected, **CLOSE)
    assert_same_weights(full, micro)
    # unequal micro-batches with equal shares: the mean of the micro-batch means
    problem, opt = make(name)
    gnn, parts = problem.gnn(False), list(torch.split(problem.train, SIZES))
    with torch.no_grad():
        means = torch.stack([gnn(p) for p in parts]).mean()
    loss = micro_step(problem, opt, weighted=False)
    torch.testing.assert_close(loss, means, **CLOSE)
    assert not torch.allclose(means, problem.gnn(False)(problem.train).detach())


def test_the_closure_is_one_large_batch_for_backward_and_autograd_grad():
    problem = Problem()
    params = list(problem.model.parameters())
    parts = list(torch.split(problem.train, SIZES))
    expected = torch.autograd.grad(problem.gnn(False)(problem.train) * 3.0, params)
    for recompute in (False, True):
        loss = accumulate(params, problem.gnn(False), parts, SIZES, recompute=recompute)()
        for g, e in zip(torch.autograd.grad(loss * 3.0, params), expected, strict=True):
            torch.testing.assert_close(g, e, **CLOSE)
    losses = accumulate(params, problem.gnn(True), parts, recompute=True)()
    assert losses.shape == (20,)
    picked = losses[[0, 9]].sum()  # one sample from each of two micro-batches
    full = problem.gnn(True)(problem.train)[[0, 9]].sum()
    for g, e in zip(torch.autograd.grad(picked, params), torch.autograd.grad(full, params)):
        torch.testing.assert_close(g, e, **CLOSE)


def test_recomputation_replays_the_random_draws_of_dropout():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    x = torch.randn(12, 4)
    parts = list(torch.split(torch.arange(12), 4))
    loss = accumulate(net.parameters(), lambda i: net(x[i]).pow(2).mean(), parts, recompute=True)
    torch.manual_seed(1)
    value = loss()
    value.backward()
    after = torch.get_rng_state()
    grads = [p.grad.clone() for p in net.parameters()]
    torch.manual_seed(1)
    net.zero_grad()
    eager = accumulate(net.parameters(), lambda i: net(x[i]).pow(2).mean(), parts)()
    eager.backward()
    torch.testing.assert_close(eager, value)
    for p, g in zip(net.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g)
    assert torch.equal(after, torch.get_rng_state())  # the replay left the state as it was


def test_refused_combinations_say_why():
    problem, esam = make("esam")
    with pytest.raises(ValueError, match="ESAM reads per-sample losses"):
        micro_step(problem, esam, recompute=False)
    parts = list(torch.split(problem.train, SIZES))
    params = list(problem.model.parameters())
    with pytest.raises(ValueError, match="recompute=True"):
        accumulate(params, problem.gnn(True), parts)()
    with pytest.raises(ValueError, match="leave sizes=None"):
        accumulate(params, problem.gnn(True), parts, SIZES, recompute=True)()
    with pytest.raises(TypeError, match="iterator"):
        accumulate(params, problem.gnn(False), iter(parts))
    with pytest.raises(ValueError, match="empty"):
        accumulate(params, problem.gnn(False), [])
    with pytest.raises(ValueError, match="one positive size per micro-batch"):
        accumulate(params, problem.gnn(False), parts, [7, 5])
    problem, fgsam = make("fgsam")
    with pytest.raises(ValueError, match="FGSAM needs peer_closure"):
        accumulation_step(fgsam, problem.gnn(False), parts)


@pytest.mark.parametrize(("name", "recompute"), [
    *[(n, r) for n in ("sam", "fgsam+", "graphsam", "adam") for r in (False, True)],
    ("esam", True),  # ESAM refuses recompute=False
])
def test_a_grad_scaler_sees_the_accumulated_gradient_scaled(name, recompute):
    full, full_opt = make(name)
    micro, micro_opt = make(name)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(3):
        expected = full_step(full, full_opt)
        got = micro_step(micro, micro_opt, scaler=scaler, recompute=recompute)
        scaler.update()
        torch.testing.assert_close(got, expected, **CLOSE)
    assert_same_weights(full, micro)
    assert scaler.get_scale() == 2.0**10  # no step overflowed
