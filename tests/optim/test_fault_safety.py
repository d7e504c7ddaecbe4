"""A step that fails part-way leaves no trace, for every optimizer of the registry.

A closure that raises (out of memory, in its forward or in its backward pass), returns
``None`` or returns a tensor of more than one element makes the step raise; afterwards the
weights are the pre-step weights bit for bit, nothing is perturbed, the optimizer's and the
base optimizer's state are as before the step, and the next normal step lands exactly where
it would have landed without the failure. Also: manual-step misuse raises ``RuntimeError``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN

from fgsam.nn import peer_forward
from fgsam.optim import OPTIMIZERS, PROCEDURES, SAM, create_optimizer, training_step

#: The registry and the training procedures: every class that perturbs weights.
ALL = OPTIMIZERS + PROCEDURES
NAMES = [cls.name for cls in ALL]
#: Pinned, so that a new optimizer cannot slip past these tests unnoticed: add it to
#: SCENARIOS below and raise the number.
REGISTRY_SIZE = 20
MANUAL = [cls.name for cls in ALL if cls.manual_steps]
REFUSING = [cls.name for cls in ALL if not cls.manual_steps]

#: What a faulty closure does instead of returning the loss, and what the step raises then.
FAULTS: dict[str, type[BaseException]] = {
    "raise": torch.OutOfMemoryError,  # in the forward pass
    "backward": torch.OutOfMemoryError,  # in the backward pass run by the optimizer
    "none": TypeError,
    "vector": TypeError,
}


class _FailingBackward(torch.autograd.Function):
    """The identity, whose backward runs out of memory."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("simulated: out of memory in the backward pass")


class Problem:
    """A 2-layer GCN on a fixed random graph of 16 nodes; ``closures`` count their calls
    (both closures of FGSAM-style optimizers on one counter) and fail on the chosen one."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        n, f = 16, 4
        self.y = torch.arange(n) % 2
        self.x = torch.randn(n, f, generator=g) + self.y[:, None].float()
        src = torch.randint(0, n, (40,), generator=g)
        dst = (src + 2 * torch.randint(1, 4, (40,), generator=g)) % n  # same parity: same class
        self.edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
        self.train = torch.arange(0, n, 2)
        self.model = GCN(f, 8, 2, 2)
        self.calls: list[tuple[str, bool]] = []
        self.fault: tuple[int, str] | None = None  # (call number, kind)

    def closures(self, opt: torch.optim.Optimizer):
        reduction = "none" if getattr(opt, "per_sample_loss", False) else "mean"

        def run(which: str, forward):
            self.calls.append((which, opt.is_perturbed))
            kind = self.fault[1] if self.fault and self.fault[0] == len(self.calls) else None
            if kind == "raise":
                raise torch.OutOfMemoryError("simulated: out of memory in the forward pass")
            if kind == "none":
                return None
            loss = F.cross_entropy(forward(), self.y[self.train], reduction=reduction)
            if kind == "vector":
                return torch.stack([loss, loss])  # two copies: never a valid loss
            return _FailingBackward.apply(loss) if kind == "backward" else loss

        def gnn():
            return run("gnn", lambda: self.model(self.x, self.edge_index)[self.train])

        def mlp():
            return run("mlp", lambda: peer_forward(self.model, self.x, self.train))

        return gnn, mlp

    def step(self, opt: torch.optim.Optimizer) -> torch.Tensor:
        return training_step(opt, *self.closures(opt))

    @torch.no_grad()
    def loss(self) -> float:
        out = self.model(self.x, self.edge_index)[self.train]
        return float(F.cross_entropy(out, self.y[self.train]))

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def build(name: str, **kwargs: Any):
    torch.manual_seed(0)
    problem = Problem()
    return problem, create_optimizer(problem.model, name, lr=0.01, seed=0, **kwargs)


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Nested dicts / lists of tensors and plain values are equal, tensors bit for bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {set(a) ^ set(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


class Snapshot:
    """Everything a failed step must leave as it was, and a twin to replay the next step."""

    def __init__(self, problem: Problem, opt) -> None:
        self.weights = problem.weights()
        self.loss = problem.loss()
        self.state = copy.deepcopy(opt.state_dict())
        self.base_state = copy.deepcopy(opt.base_optimizer.state_dict())
        self.step = opt.global_state["step"]
        self.twin = copy.copy(problem)
        self.twin.model, self.twin_opt = copy.deepcopy((problem.model, opt))
        self.twin.calls, self.twin.fault = [], None

    def assert_untouched(self, problem: Problem, opt) -> None:
        assert_same(problem.weights(), self.weights, "weights")
        assert not opt.is_perturbed
        assert opt.global_state["step"] == self.step
        assert_same(opt.base_optimizer.state_dict(), self.base_state, "base optimizer")
        assert_same(opt.state_dict(), self.state, "optimizer")

    def assert_recovers(self, problem: Problem, opt) -> None:
        """The next, normal step works, lowers the loss and matches the twin that never
        saw the failure bit for bit."""
        problem.fault = None
        problem.step(opt)
        self.twin.step(self.twin_opt)
        assert_same(problem.weights(), self.twin.weights(), "weights after the next step")
        assert_same(opt.state_dict(), self.twin_opt.state_dict(), "state after the next step")
        assert problem.loss() < self.loss


def test_the_registry_has_the_pinned_size_and_every_step_is_guarded():
    assert len(ALL) == REGISTRY_SIZE and len(set(NAMES)) == REGISTRY_SIZE
    for cls in ALL:  # the shared rollback, not a copy of it
        assert getattr(cls.step, "guarded_step", False), f"{cls.__name__}.step is not guarded"


# ------------------------------------------------------- faults counted over the whole run
@pytest.mark.parametrize(("kind", "call"), [("raise", 2), ("raise", 3), ("none", 2),
                                            ("vector", 2)], ids=["raise-2nd", "raise-3rd",
                                                                 "none-2nd", "vector-2nd"])
@pytest.mark.parametrize("name", NAMES)
def test_a_failing_call_of_the_run_leaves_no_trace(name, kind, call):
    """The closure fails on its ``call``-th call since training started, in whichever
    step that falls (the second call is at the perturbed weights for most optimizers)."""
    problem, opt = build(name)
    problem.fault = (call, kind)
    for _ in range(call):  # every step calls the closure at least once
        snapshot = Snapshot(problem, opt)
        try:
            problem.step(opt)
        except FAULTS[kind]:
            break
    else:
        pytest.fail(f"the closure's call {call} never failed")
    assert len(problem.calls) == call  # the step stopped at the failing call
    snapshot.assert_untouched(problem, opt)
    snapshot.assert_recovers(problem, opt)


# ------------------------------------------------- faults at every call of chosen steps
@dataclass
class Scenario:
    """A step of optimizer ``name`` (built with ``kwargs``, after ``warmup`` normal
    steps) whose closure calls are ``calls``: which closure, at w or at w + ε."""

    id: str
    name: str
    calls: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    warmup: int = 0
    anchored: bool = False


W, P, MW, MP = "gnn@w", "gnn@w+e", "mlp@w", "mlp@w+e"
NEVER, ALWAYS = float("inf"), float("-inf")
#: One entry per kind of step; warm-up steps reach the steps that update kept state
#: (moving averages, masks) and the steps with another number of passes.
SCENARIOS = [
    Scenario("sam", "sam", (W, P)),
    Scenario("sam-3-ascents", "sam", (W, P, P, P), {"ascent_steps": 3}),
    Scenario("asam", "asam", (W, P)),
    Scenario("fgsam", "fgsam", (W, MP)),
    Scenario("fgsam+-exact", "fgsam+", (W, MW, MP)),
    Scenario("fgsam+-approximate", "fgsam+", (MW,), warmup=1),
    Scenario("graphsam-refresh", "graphsam", (W, P)),
    Scenario("graphsam-directed", "graphsam", (P,), warmup=1),
    Scenario("ssam-f-mask-update", "ssam-f", (W, P), {"update_interval": 1, "num_samples": 4},
             warmup=1),
    Scenario("ssam-d-mask-update", "ssam-d", (W, P), {"update_interval": 1}, warmup=1),
    Scenario("vasso", "vasso", (W, P), warmup=1),
    Scenario("looksam-sam-step", "looksam", (W, P), {"k": 2}, warmup=2),
    Scenario("looksam-cheap-step", "looksam", (W,), {"k": 2}, warmup=1),
    Scenario("esam", "esam", (W, P), warmup=1),
    Scenario("ae-sam-sam-step", "ae-sam", (W, P), {"c_start": ALWAYS, "c_end": ALWAYS},
             warmup=1),
    Scenario("ae-sam-plain-step", "ae-sam", (W,), {"c_start": NEVER, "c_end": NEVER},
             warmup=1),
    Scenario("friendly-sam", "friendly-sam", (W, P), warmup=1),
    Scenario("msam-first-step", "msam", (W,)),
    Scenario("msam", "msam", (P,), warmup=1),
    Scenario("gsam", "gsam", (W, P)),
    Scenario("rwp", "rwp", (W, P), warmup=1),
    Scenario("tsam", "tsam", (P,) * 6),
    Scenario("tsam-no-ascent", "tsam", (P,) * 3, {"ascent": False}),
    Scenario("zo-tsam", "zo-tsam", (W, P, P, P, P)),
    Scenario("fgsam-rho0", "fgsam-rho0", (W, MP)),  # "moved" by ε = 0: the step's path
    Scenario("sam-peer-ascent", "sam-peer-ascent", (MW, P)),
    Scenario("f2m", "f2m", (P, P), warmup=1),
    Scenario("f2m-anchored", "f2m", (W,), warmup=1, anchored=True),
]
CASES = [
    pytest.param(s, i, kind, id=f"{s.id}-call{i}-{kind}")
    for s in SCENARIOS
    for i in range(1, len(s.calls) + 1)
    for kind in FAULTS
    if not (kind == "backward" and s.name == "zo-tsam")  # no backward pass to fail
]


def prepare(scenario: Scenario):
    problem, opt = build(scenario.name, **scenario.kwargs)
    for _ in range(scenario.warmup):
        problem.step(opt)
    if scenario.anchored:
        opt.anchor()
    problem.calls.clear()
    return problem, opt


def test_scenarios_cover_the_registry_and_perturb_every_optimizer():
    assert {s.name for s in SCENARIOS} == set(NAMES)
    for name in NAMES:  # each optimizer has a call at w + ε to fail in
        assert any(P in s.calls or MP in s.calls for s in SCENARIOS if s.name == name), name


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_calls_are_as_listed(scenario):
    problem, opt = prepare(scenario)
    problem.step(opt)
    shown = tuple(f"{which}@{'w+e' if moved else 'w'}" for which, moved in problem.calls)
    assert shown == scenario.calls


@pytest.mark.parametrize(("scenario", "call", "kind"), CASES)
def test_a_failing_call_of_the_step_leaves_no_trace(scenario, call, kind):
    problem, opt = prepare(scenario)
    snapshot = Snapshot(problem, opt)
    problem.fault = (call, kind)
    with pytest.raises(FAULTS[kind]):
        problem.step(opt)
    assert len(problem.calls) == call
    snapshot.assert_untouched(problem, opt)
    snapshot.assert_recovers(problem, opt)


def test_an_interrupt_is_rolled_back_too():
    problem, opt = build("sam")
    snapshot = Snapshot(problem, opt)
    gnn, _ = problem.closures(opt)

    def interrupted():
        if opt.is_perturbed:
            raise KeyboardInterrupt
        return gnn()

    with pytest.raises(KeyboardInterrupt):
        opt.step(interrupted)
    snapshot.assert_untouched(problem, opt)


# ------------------------------------------------------------------- manual-step misuse
def manual_start(name: str, **kwargs: Any):
    """An optimizer after ``first_step`` on the GNN loss's gradients."""
    problem, opt = build(name, **kwargs)
    before = problem.weights()
    gnn, _ = problem.closures(opt)
    loss = gnn()
    (loss.mean() if loss.ndim else loss).backward()
    opt.first_step(zero_grad=True)
    return problem, opt, before


def finish_manual_step(problem: Problem, opt) -> None:
    gnn, mlp = problem.closures(opt)
    loss = (mlp if opt.num_closures == 2 else gnn)()
    (loss.mean() if loss.ndim else loss).backward()
    opt.second_step(zero_grad=True)


@pytest.mark.parametrize("name", MANUAL)
def test_first_step_twice_is_refused_and_the_step_can_still_finish(name):
    problem, opt, before = manual_start(name)
    assert opt.is_perturbed
    perturbed = problem.weights()
    with pytest.raises(RuntimeError, match=r"first_step\(\) called again.*second_step\(\)"):
        opt.first_step()
    assert opt.is_perturbed and all(torch.equal(perturbed[k], v)
                                    for k, v in problem.weights().items())
    finish_manual_step(problem, opt)
    assert not opt.is_perturbed and opt.global_state["step"] == 1
    assert not all(torch.equal(before[k], v) for k, v in problem.weights().items())


@pytest.mark.parametrize("name", MANUAL)
def test_second_step_without_first_step_is_refused_and_changes_nothing(name):
    problem, opt = build(name)
    problem.step(opt)
    snapshot = Snapshot(problem, opt)
    with pytest.raises(RuntimeError, match=r"second_step\(\) called without .*first_step\(\)"):
        opt.second_step()
    snapshot.assert_untouched(problem, opt)


def test_multi_step_ascent_takes_exactly_ascent_steps_first_steps():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SAM([w], "sgd", lr=0.1, ascent_steps=3)
    for _ in range(3):
        (w * w).sum().backward()
        opt.first_step(zero_grad=True)
    with pytest.raises(RuntimeError, match=r"3 of 3 ascent step\(s\) taken"):
        opt.first_step()
    (w * w).sum().backward()
    opt.second_step(zero_grad=True)
    assert not opt.is_perturbed and opt.global_state["step"] == 1


@pytest.mark.parametrize("name", REFUSING)
def test_optimizers_without_manual_steps_keep_refusing_them(name):
    problem, opt = build(name)
    snapshot = Snapshot(problem, opt)
    for method in (opt.first_step, opt.second_step):
        with pytest.raises(NotImplementedError):
            method()
    snapshot.assert_untouched(problem, opt)


@pytest.mark.parametrize("name", MANUAL)
def test_persistence_and_step_are_refused_while_perturbed_until_restored(name):
    problem, opt, before = manual_start(name)
    saved = copy.deepcopy(build(name)[1].state_dict())
    for call in (opt.state_dict, lambda: opt.load_state_dict(saved),
                 lambda: problem.step(opt)):
        with pytest.raises(RuntimeError, match=r"between first_step\(\) and second_step\(\)"):
            call()
    assert opt.is_perturbed
    opt.restore_weights()  # discards the manual step
    assert not opt.is_perturbed
    assert_same(problem.weights(), before, "weights")
    assert opt.state_dict()["global_state"]["step"] == 0
    with pytest.raises(RuntimeError, match="without a preceding"):
        opt.second_step()
    start = problem.loss()
    problem.step(opt)
    assert problem.loss() < start


@pytest.mark.parametrize("name", NAMES)
def test_state_saved_after_a_failed_step_reloads_and_continues_identically(name):
    problem, opt = build(name)
    problem.step(opt)
    problem.fault = (len(problem.calls) + 2, "raise")
    with pytest.raises(torch.OutOfMemoryError):
        for _ in range(3):
            problem.step(opt)
    problem.fault = None
    twin, twin_opt = build(name)
    twin.model.load_state_dict(problem.model.state_dict())
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    problem.step(opt)
    twin.step(twin_opt)
    assert_same(problem.weights(), twin.weights(), "weights")
