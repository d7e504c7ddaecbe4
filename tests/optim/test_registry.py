"""Every registered optimizer honours the shared contract (parametrised over the registry)."""

from __future__ import annotations

import copy
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN

from fgsam.nn import peer_forward
from fgsam.optim import (
    F2M,
    OPTIMIZERS,
    PROCEDURES,
    create_optimizer,
    default_rho,
    get_optimizer_class,
    list_optimizers,
    optimizer_arguments,
    takes_generator,
    training_step,
)
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.seeding import make_generator

NAMES = [cls.name for cls in OPTIMIZERS]
MANUAL = [cls.name for cls in OPTIMIZERS if cls.manual_steps]


class Problem:
    """A 2-layer GCN on a fixed random homophilous graph, with an unused parameter."""

    def __init__(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(0)  # the data is fixed; ``seed`` starts the model
        n, f = 40, 8
        self.y = torch.arange(n) % 2
        self.x = torch.randn(n, f, generator=g) + 1.5 * self.y[:, None].float()
        src = torch.randint(0, n, (160,), generator=g)
        dst = (src + 2 * torch.randint(1, 5, (160,), generator=g)) % n  # same parity: same class
        self.edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
        self.train = torch.arange(0, n, 2)
        torch.manual_seed(seed)
        self.model = GCN(f, 16, 2, 2)
        self.model.unused = torch.nn.Parameter(torch.ones(3))

    def closure(self, per_sample: bool = False):
        reduction = "none" if per_sample else "mean"

        def gnn():
            out = self.model(self.x, self.edge_index)[self.train]
            return F.cross_entropy(out, self.y[self.train], reduction=reduction)

        return gnn

    def peer_closure(self, per_sample: bool = False):
        reduction = "none" if per_sample else "mean"

        def mlp():
            out = peer_forward(self.model, self.x, self.train)
            return F.cross_entropy(out, self.y[self.train], reduction=reduction)

        return mlp

    @torch.no_grad()
    def loss(self) -> float:
        return float(self.closure()())

    def step(self, opt: torch.optim.Optimizer) -> torch.Tensor:
        per_sample = getattr(opt, "per_sample_loss", False)
        return training_step(opt, self.closure(per_sample), self.peer_closure(per_sample))


def make(name: str, seed: int = 0, **kwargs):
    problem = Problem(seed)
    kwargs.setdefault("lr", 0.01)
    return problem, create_optimizer(problem.model, name, **kwargs)


def test_registry_lists_lower_case_names_and_builds_plain_optimizers():
    assert list_optimizers() == sorted(NAMES)
    assert all(n == n.lower() for n in NAMES) and len(set(NAMES)) == len(NAMES)
    assert "sam" in list_optimizers("sa*")
    assert "adam" in list_optimizers(include_base=True)
    assert isinstance(create_optimizer(torch.nn.Linear(2, 2), "adam", lr=0.1), torch.optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'nope'.*sam"):
        get_optimizer_class("nope")


def test_weight_decay_exclusion_for_1d_parameters():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = create_optimizer(net, "sam", lr=0.1, weight_decay=0.1, no_decay_1d=True)
    decay, no_decay = opt.param_groups
    assert [p.ndim for p in decay["params"]] == [2] and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_loss_falls_closure_style(name):
    problem, opt = make(name)
    start = problem.loss()
    for _ in range(60):
        problem.step(opt)
    assert problem.loss() < 0.8 * start


@pytest.mark.parametrize("name", MANUAL)
def test_loss_falls_two_step_style(name):
    problem, opt = make(name)
    start = problem.loss()
    second = problem.peer_closure() if opt.num_closures == 2 else problem.closure()
    for _ in range(60):
        problem.closure()().backward()
        opt.first_step(zero_grad=True)
        second().backward()
        opt.second_step(zero_grad=True)
    assert problem.loss() < 0.8 * start


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_bit_identically(name):
    problem, opt = make(name)
    for _ in range(4):
        problem.step(opt)
    model_state = copy.deepcopy(problem.model.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    twin, twin_opt = make(name, seed=1)  # different start, overwritten by the loads
    twin.model.load_state_dict(model_state)
    twin_opt.load_state_dict(opt_state)
    for _ in range(4):
        assert torch.equal(problem.step(opt), twin.step(twin_opt))
    for p, q in zip(problem.model.parameters(), twin.model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_gives_an_independent_identical_optimizer(name):
    problem, opt = make(name)
    problem.step(opt)
    twin = copy.copy(problem)
    twin.model, twin_opt = copy.deepcopy((problem.model, opt))
    assert twin_opt.param_groups is twin_opt.base_optimizer.param_groups
    for _ in range(3):
        problem.step(opt)
        twin.step(twin_opt)
    for p, q in zip(problem.model.parameters(), twin.model.parameters()):
        assert torch.equal(p, q)
        assert p is not q


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arg", ["rho", "lr"])
def test_negative_hyper_parameters_are_refused_by_name(name, arg):
    with pytest.raises(ValueError, match=arg):
        make(name, **{arg: -0.1})


@pytest.mark.parametrize("name", NAMES)
def test_parameter_without_gradient_is_left_alone(name):
    problem, opt = make(name, weight_decay=0.1)
    before = problem.model.unused.detach().clone()
    for _ in range(3):
        problem.step(opt)
    assert torch.equal(problem.model.unused, before)
    assert problem.model.unused.grad is None


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=NAMES)
def test_class_is_documented_and_repr_names_it(cls):
    assert issubclass(cls, SharpnessAwareOptimizer)
    doc = inspect.getdoc(cls) or ""
    assert "http" in doc and "Args:" in doc and "Example" in doc
    _, opt = make(cls.name)
    assert repr(opt).startswith(f"{cls.__name__}(")


@pytest.mark.parametrize(("name", "rho"), [
    ("sam", 0.05), ("asam", 0.5), ("fgsam+", 0.1), ("msam", 0.3), ("rwp", 0.01),
    ("zo-tsam", 1e-3), ("f2m", 0.01), ("adam", None), ("sgd", None),
])
def test_default_rho_is_the_class_default(name, rho):
    assert default_rho(name) == rho
    if rho is not None:
        assert create_optimizer(torch.nn.Linear(2, 1), name, lr=0.1).param_groups[0]["rho"] == rho


@pytest.mark.parametrize("cls", OPTIMIZERS + PROCEDURES, ids=[*NAMES, "f2m"])
def test_omitted_rho_gives_every_optimizer_its_own_default(cls):
    declared = next(inspect.signature(k.__init__).parameters["rho"].default for k in cls.__mro__
                    if "rho" in inspect.signature(k.__init__).parameters)
    assert optimizer_arguments(cls.name) == {"rho": declared}
    _, opt = make(cls.name, rho=None)
    assert [g["rho"] for g in opt.param_groups] == [declared]


def test_total_steps_reaches_only_the_optimizers_with_a_schedule():
    scheduled = [n for n in list_optimizers(include_procedures=True)
                 if "total_steps" in optimizer_arguments(n, total_steps=40)]
    assert scheduled == ["ae-sam", "ssam-d"]
    for name in scheduled:
        _, opt = make(name, total_steps=40)
        assert opt.total_steps == 40
    _, sam = make("sam", total_steps=40)  # taken, not passed on: SAM has no schedule
    assert not hasattr(sam, "total_steps")
    assert optimizer_arguments("ae-sam", {"total_steps": 5}, total_steps=40)["total_steps"] == 5


def test_plain_optimizers_get_no_radius_and_options_win():
    assert optimizer_arguments("adam", {"betas": (0.8, 0.9)}, rho=0.2, total_steps=9,
                               sync_ascent=True) == {"betas": (0.8, 0.9)}
    assert isinstance(create_optimizer(torch.nn.Linear(2, 1), "adadelta", rho=0.5, lr=1.0),
                      torch.optim.Adadelta)  # Adadelta's own rho is not the radius
    assert create_optimizer(torch.nn.Linear(2, 1), "adadelta", lr=1.0).defaults["rho"] == 0.9
    assert optimizer_arguments("sam", {"rho": 0.3}, rho=0.2) == {"rho": 0.3}
    assert optimizer_arguments("sam", rho=0.2, sync_ascent=True) == {"rho": 0.2,
                                                                     "sync_ascent": True}


def test_f2m_is_a_procedure_built_by_name_but_not_a_registry_optimizer():
    assert "f2m" not in list_optimizers() and "f2m" in list_optimizers(include_procedures=True)
    assert F2M not in OPTIMIZERS and get_optimizer_class("F2M") is F2M
    problem, opt = make("f2m", generator=0)
    assert isinstance(opt, F2M) and opt.model is problem.model
    start = problem.loss()
    for _ in range(60):
        problem.step(opt)
    assert problem.loss() < 0.8 * start
    with pytest.raises(ValueError, match="training procedures: f2m"):
        get_optimizer_class("f3m")


# ----------------------------------------------------------------------- seeded construction
STOCHASTIC = [n for n in list_optimizers(include_procedures=True) if takes_generator(n)]


def test_the_optimizers_taking_a_generator_are_the_stochastic_ones():
    assert STOCHASTIC == ["esam", "f2m", "rwp", "ssam-d", "ssam-f", "tsam", "zo-tsam"]
    assert not takes_generator("sam") and not takes_generator("adam")
    with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
        takes_generator("nope")


def test_seed_becomes_the_generator_of_the_optimizers_that_take_one():
    assert optimizer_arguments("rwp", seed=3) == {"rho": 0.01, "generator": 3}
    assert optimizer_arguments("sam", seed=3) == {"rho": 0.05}
    assert optimizer_arguments("adam", seed=3) == {}
    assert optimizer_arguments("rwp", {"generator": 5}, seed=3)["generator"] == 5
    assert optimizer_arguments("rwp", {"generator": None}, seed=3)["generator"] == 3
    assert "generator" not in optimizer_arguments("rwp")
    for name in STOCHASTIC:
        _, opt = make(name, seed=0)
        assert torch.equal(opt.generator.get_state(), make_generator(0).get_state())
    assert isinstance(create_optimizer(torch.nn.Linear(2, 1), "sam", seed=3, lr=0.1), SAM_CLS)
    assert isinstance(create_optimizer(torch.nn.Linear(2, 1), "adam", seed=3, lr=0.1),
                      torch.optim.Adam)
    with pytest.raises(ValueError, match="seed must be an int or None, got '3'"):
        optimizer_arguments("rwp", seed="3")


SAM_CLS = get_optimizer_class("sam")

#: Builds every stochastic optimizer around the same small network (weights and data from
#: local generators: nothing here seeds the global one unless asked; no PyG import, to
#: start fast), takes 3 steps and prints a digest of the weights of each.
CHILD = """
import hashlib, json, sys
import torch, torch.nn.functional as F
from fgsam.optim import create_optimizer, training_step
torch.set_num_threads(1)
names, seed, manual = json.loads(sys.argv[1])
if manual is not None:
    torch.manual_seed(manual)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(16, 4, generator=g), torch.arange(16) % 2
out = {}
for name in names:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    init = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=init))
    options = {"num_samples": 3} if name == "ssam-f" else {}
    opt = create_optimizer(model, name, lr=0.05, seed=seed, **options)
    red = "none" if opt.per_sample_loss else "mean"
    for _ in range(3):
        training_step(opt, lambda: F.cross_entropy(model(x), y, reduction=red))
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    out[name] = hashlib.sha256(flat.numpy().tobytes()).hexdigest()
print(json.dumps(out))
"""


def _child_digests(seed: int | None, manual: int | None) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([STOCHASTIC, seed, manual])],
        capture_output=True, text=True, cwd=root, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_same_seed_gives_the_same_run_in_two_processes():
    first, second = _child_digests(seed=7, manual=None), _child_digests(seed=7, manual=None)
    assert sorted(first) == STOCHASTIC
    assert first == second


def test_without_a_seed_the_run_follows_the_global_seed():
    first, second = _child_digests(seed=None, manual=1), _child_digests(seed=None, manual=2)
    assert sorted(first) == STOCHASTIC
    assert all(first[n] != second[n] for n in STOCHASTIC), [
        n for n in STOCHASTIC if first[n] == second[n]
    ]


def test_registry_names_are_pinned():
    assert list_optimizers() == [
        "ae-sam", "asam", "esam", "fgsam", "fgsam+", "fgsam-rho0", "friendly-sam", "graphsam",
        "gsam", "looksam", "msam", "rwp", "sam", "sam-peer-ascent", "ssam-d", "ssam-f", "tsam",
        "vasso", "zo-tsam",
    ]
    assert list_optimizers(include_procedures=True) == sorted([*list_optimizers(), "f2m"])


def test_registry_all_is_exported_by_the_package():
    import fgsam.optim
    from fgsam.optim import registry

    assert set(registry.__all__) <= set(fgsam.optim.__all__)


def test_fsam_is_a_deprecated_alias_of_friendly_sam():
    from fgsam.optim import FriendlySAM

    with pytest.warns(DeprecationWarning, match="friendly-sam"):
        assert get_optimizer_class("fsam") is FriendlySAM
    with pytest.warns(DeprecationWarning, match="friendly-sam"):
        opt = create_optimizer(torch.nn.Linear(2, 2), "fsam", lr=0.1)
    assert isinstance(opt, FriendlySAM) and "fsam" not in list_optimizers()


def test_every_named_optimizer_class_of_the_package_is_registered():
    import fgsam.optim
    from fgsam.optim import SharpnessAwareOptimizer

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = {c for c in subclasses(SharpnessAwareOptimizer) if c.__module__.startswith("fgsam.")}
    named = {c for c in ours if c.name}
    assert named == set(OPTIMIZERS) | set(PROCEDURES), named ^ (set(OPTIMIZERS) | set(PROCEDURES))
    # the abstract ones carry no name and are not exported as optimizers
    assert all(not c.name for c in ours - named)
    assert all(getattr(fgsam.optim, c.__name__) is c for c in named)
