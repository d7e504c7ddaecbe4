"""Scaffolding the optimizer tests share: split problems, paired runs, state comparisons.

Only the set-up and the checks that many optimizers share live here; every hand
computation stays in its own test module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch.testing import assert_close

#: ½ wᵀAw over w ∈ R³, the problem most hand computations use.
A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, EPS = 0.1, 0.05, 1e-12
TIGHT = {"rtol": 1e-12, "atol": 1e-14}

#: ``(parameters, optimizer, closure)``.
Problem = tuple[tuple[torch.nn.Parameter, ...], torch.optim.Optimizer, Callable]


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


def quadratic(a: torch.Tensor = A) -> Callable[[torch.Tensor], torch.Tensor]:
    """``w ↦ ½ wᵀ a w``."""
    return lambda w: 0.5 * w @ a @ w


def split_problem(cls, loss, w0: torch.Tensor = W0, at: int = 2, base=torch.optim.SGD,
                  calls: list | None = None, **kwargs) -> Problem:
    """``w0`` held as two parameters ``w0[:at]``, ``w0[at:]`` (so that norms and inner
    products must be global), ``cls`` over them with ``lr=LR`` and the closure
    ``loss(w)``; each closure call is recorded in ``calls`` if given."""
    ws = (torch.nn.Parameter(w0[:at].clone()), torch.nn.Parameter(w0[at:].clone()))
    opt = cls(list(ws), base, lr=LR, **kwargs)

    def closure():
        if calls is not None:
            calls.append(1)
        return loss(torch.cat(ws))

    return ws, opt, closure


def weights(ws) -> torch.Tensor:
    """The parameters ``ws`` as one flat vector."""
    return torch.cat([w.detach().reshape(-1) for w in ws])


def same_state(a: dict, b: dict) -> bool:
    """Whether two optimizer state dicts hold the same values."""
    flat_a = [(k, v) for s in a["state"].values() for k, v in sorted(s.items())]
    flat_b = [(k, v) for s in b["state"].values() for k, v in sorted(s.items())]
    tensors = all(
        ka == kb and (torch.equal(va, vb) if torch.is_tensor(va) else va == vb)
        for (ka, va), (kb, vb) in zip(flat_a, flat_b)
    )
    glob = all(
        torch.equal(v, b["global_state"][k]) if torch.is_tensor(v) else v == b["global_state"][k]
        for k, v in a["global_state"].items()
    )
    return len(flat_a) == len(flat_b) and tensors and glob


def same_closure(closure: Callable, t: int) -> Callable:
    return closure


def assert_same_runs(first: Problem, second: Problem, steps: int,
                     closure_at: Callable = same_closure) -> None:
    """Both runs return bit-identical losses at every step and end on the same weights;
    ``closure_at(closure, t)`` is the closure of step ``t``."""
    (ws_a, opt_a, closure_a), (ws_b, opt_b, closure_b) = first, second
    for t in range(steps):
        assert torch.equal(opt_a.step(closure_at(closure_a, t)),
                           opt_b.step(closure_at(closure_b, t)))
    assert torch.equal(weights(ws_a), weights(ws_b))


def assert_manual_steps_match(make: Callable[[], Problem], steps: int) -> None:
    """``first_step`` / ``second_step`` on populated gradients land exactly where
    ``step(closure)`` does."""
    ws, opt, closure = make()
    ws_manual, manual, closure_manual = make()
    for _ in range(steps):
        opt.step(closure)
        closure_manual().backward()
        manual.first_step(zero_grad=True)
        closure_manual().backward()
        manual.second_step(zero_grad=True)
    assert torch.equal(weights(ws), weights(ws_manual))


def assert_grad_scaler_matches_unscaled(make: Callable[[], Problem], steps: int = 4,
                                        closure_at: Callable = same_closure,
                                        tolerance: dict = TIGHT) -> None:
    """Steps under a GradScaler match the unscaled ones; then an overflowing step
    leaves the weights and the optimizer state as they were and halves the scale."""
    ws, opt, closure = make()
    ws_plain, plain, closure_plain = make()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for t in range(steps):
        opt.step(closure_at(closure, t), scaler=scaler)
        scaler.update()
        plain.step(closure_at(closure_plain, t))
    assert_close(weights(ws), weights(ws_plain), **tolerance)
    state, before = copy.deepcopy(opt.state_dict()), weights(ws)
    overflowing = closure_at(closure, steps)
    opt.step(lambda: overflowing() * float("inf"), scaler=scaler)
    scaler.update()
    assert torch.equal(weights(ws), before) and scaler.get_scale() == 2.0**9
    assert same_state(opt.state_dict(), state)


def assert_state_round_trip(make: Callable[[int], Problem], seeds: tuple[int, int],
                            before: int, after: int) -> None:
    """``make(seed)`` twice: the second run, given the first one's weights and
    ``state_dict`` after ``before`` steps, takes the next ``after`` steps bit-identically
    (its own seed is overwritten by the saved generator state)."""
    ws, opt, closure = make(seeds[0])
    for _ in range(before):
        opt.step(closure)
    ws_twin, twin, closure_twin = make(seeds[1])
    with torch.no_grad():
        for w, v in zip(ws_twin, ws):
            w.copy_(v)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(after):
        assert torch.equal(opt.step(closure), twin.step(closure_twin))
    assert torch.equal(weights(ws), weights(ws_twin))


def assert_settles_on_the_quadratic(problem: Problem, steps: int = 200) -> None:
    """The loss falls a thousandfold and the weights end within about ``RHO`` of the
    minimiser (a fixed radius keeps sharpness-aware steps from settling on it)."""
    ws, opt, closure = problem
    losses = [float(opt.step(closure)) for _ in range(steps)]
    assert losses[-1] < 1e-3 * losses[0]
    assert norm(weights(ws)) < 2 * RHO


def least_squares_reduction(make: Callable[[list], torch.optim.Optimizer], steps: int) -> float:
    """The ratio final / initial loss of ``steps`` steps of ``make([w])`` on a consistent
    least-squares problem (64 samples, 5 weights from zero)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = x @ torch.randn(5, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = make([w])

    def closure():
        return 0.5 * ((x @ w - y) ** 2).mean()

    with torch.no_grad():
        start = float(closure())
    for _ in range(steps):
        opt.step(closure)
    with torch.no_grad():
        return float(closure()) / start


def assert_global_generator_untouched(opt: torch.optim.Optimizer, closure: Callable,
                                      steps: int = 3) -> None:
    """Steps draw only from the optimizer's own generator."""
    state = torch.get_rng_state()
    for _ in range(steps):
        opt.step(closure)
    assert torch.equal(torch.get_rng_state(), state)


class NodeRun:
    """A 2-layer GCN (seed 0) trained 60 steps on a 300-node synthetic graph, nodes split
    even/odd into train/test, with the GNN loss and its PeerMLP loss as the closures: the
    convergence check of the FGSAM-style optimizers. ``make(model)`` builds the optimizer;
    ``step(opt, gnn, mlp)`` takes one step (default: ``fgsam.optim.training_step``)."""

    def __init__(self, make: Callable, step: Callable | None = None, steps: int = 60) -> None:
        import torch.nn.functional as F
        from torch_geometric.nn import GCN

        from fgsam.data import GraphShape, synthetic_graph
        from fgsam.nn import peer_forward
        from fgsam.optim import training_step

        data = synthetic_graph(GraphShape(300, 2400, 16, 3), seed=0)
        torch.manual_seed(0)
        model = GCN(data.num_features, 16, 2, int(data.y.max()) + 1)
        #: The optimizer ``make`` built.
        self.opt = opt = make(model)
        train, test = torch.arange(0, data.num_nodes, 2), torch.arange(1, data.num_nodes, 2)

        def gnn():
            return F.cross_entropy(model(data.x, data.edge_index)[train], data.y[train])

        def mlp():
            return F.cross_entropy(peer_forward(model, data.x, train), data.y[train])

        with torch.no_grad():
            #: The GNN loss before training.
            self.first = float(gnn())
        #: The loss each step returned.
        self.losses = [float((step or training_step)(opt, gnn, mlp)) for _ in range(steps)]
        with torch.no_grad():
            #: The GNN loss after training.
            self.last = float(gnn())
            pred = model(data.x, data.edge_index).argmax(1)
        #: Accuracy on the test nodes.
        self.test_accuracy = float((pred[test] == data.y[test]).float().mean())
