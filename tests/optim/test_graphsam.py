"""GraphSAM against hand computations of docs/algorithms.md §3, and its epoch schedule."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from fgsam.optim import GraphSAM, create_optimizer, training_step

A = torch.tensor([[3.0, 1.0, 0.5], [1.0, 2.0, 0.0], [0.5, 0.0, 1.5]], dtype=torch.float64)
B = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
LR, RHO, BETA, GAMMA, EPS = 0.1, 0.05, 0.9, 0.5, 1e-12
TIGHT = {"rtol": 1e-13, "atol": 1e-15}


def loss_of(w: torch.Tensor) -> torch.Tensor:
    return 0.5 * w @ A @ w + B @ w


def grad_of(w: torch.Tensor) -> torch.Tensor:
    return A @ w + B


def norm(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum())


class Split:
    """The 3-vector w held as two parameters, so that norms must be global."""

    def __init__(self, **kwargs) -> None:
        self.a = torch.nn.Parameter(W0[:2].clone())
        self.b = torch.nn.Parameter(W0[2:].clone())
        self.opt = GraphSAM([self.a, self.b], torch.optim.SGD, lr=LR, **kwargs)
        self.calls = 0

    def closure(self) -> torch.Tensor:
        self.calls += 1
        return loss_of(torch.cat([self.a, self.b]))

    def step(self) -> torch.Tensor:
        return self.opt.step(self.closure)

    @property
    def w(self) -> torch.Tensor:
        return torch.cat([self.a, self.b]).detach()


def test_three_steps_across_an_epoch_boundary_by_hand():
    run = Split(rho=RHO, beta=BETA, gamma=GAMMA)
    run.opt.start_epoch()  # epoch 0: radius rho
    losses = [run.step(), run.step()]
    run.opt.start_epoch()  # epoch 1: radius rho * gamma, direction refreshed
    losses.append(run.step())
    assert run.calls == 5  # 2 + 1 + 2 passes: one extra per epoch

    # Step 1 (refresh): m = g(w0).
    w0 = W0
    m = grad_of(w0)
    gs = grad_of(w0 + RHO * m / (norm(m) + EPS))
    w1 = w0 - LR * gs
    m = BETA * m + (1 - BETA) * gs / (norm(gs) + EPS)
    # Step 2: the perturbation follows m, no gradient at w1.
    gs = grad_of(w1 + RHO * m / (norm(m) + EPS))
    w2 = w1 - LR * gs
    loss2 = loss_of(w1 + RHO * m / (norm(m) + EPS))
    m = BETA * m + (1 - BETA) * gs / (norm(gs) + EPS)
    # Step 3 (new epoch): m reset to g(w2), radius halved.
    m = grad_of(w2)
    rho1 = RHO * GAMMA
    gs = grad_of(w2 + rho1 * m / (norm(m) + EPS))
    w3 = w2 - LR * gs
    m = BETA * m + (1 - BETA) * gs / (norm(gs) + EPS)

    assert_close(run.w, w3, **TIGHT)
    assert_close(losses[0], loss_of(w0), **TIGHT)  # refresh steps return L(w)
    assert_close(losses[1], loss2, **TIGHT)  # other steps return L(w + eps)
    assert_close(losses[2], loss_of(w2), **TIGHT)
    direction = torch.cat([run.opt.state[run.a]["direction"], run.opt.state[run.b]["direction"]])
    assert_close(direction, m, **TIGHT)
    assert run.opt.global_state["epoch"] == 1
    assert run.opt.rho_e == [pytest.approx(rho1)]


def test_adaptive_perturbation_by_hand():
    eta = 0.01
    run = Split(rho=0.5, beta=BETA, adaptive=True, eta=eta)
    run.step()
    run.step()
    w, m = W0, grad_of(W0)
    for _ in range(2):
        t = w.abs() + eta
        eps = 0.5 * t * t * m / (norm(t * m) + EPS)
        gs = grad_of(w + eps)
        w = w - LR * gs
        m = BETA * m + (1 - BETA) * gs / (norm(gs) + EPS)
    assert_close(run.w, w, **TIGHT)


def test_per_tensor_radius_clip_by_hand():
    # the authors' perturbation: adaptive with eta 0, each tensor's eps clipped to r_e
    radius = 0.02
    run = Split(rho=0.5, beta=BETA, gamma=GAMMA, adaptive=True, eta=0.0, radius=radius)
    run.opt.start_epoch()
    run.step()
    run.opt.start_epoch()  # epoch 1: rho and the clip both halved
    run.step()
    w, m, clipped = W0, grad_of(W0), []
    for scale in (1.0, GAMMA):
        eps = 0.5 * scale * w * w * m / (norm(w.abs() * m) + EPS)
        parts = [eps[:2], eps[2:]]
        clipped.append([float(norm(e)) > radius * scale for e in parts])
        eps = torch.cat([e * min(1.0, radius * scale / (float(norm(e)) + EPS)) for e in parts])
        gs = grad_of(w + eps)
        w = w - LR * gs
        m = grad_of(w)  # start_epoch refreshes the direction
    assert clipped[0] == [True, True] and not all(clipped[1])  # both branches
    assert_close(run.w, w, **TIGHT)
    assert "radius=0.02" in repr(run.opt)


@pytest.mark.parametrize(("decay_every", "expected"), [(1, [1, 0.5, 0.25, 0.125]),
                                                       (2, [1, 1, 0.5, 0.5])])
def test_radius_schedule_is_the_paper_form_not_compounded(decay_every, expected):
    run = Split(rho=RHO, gamma=GAMMA, decay_every=decay_every)
    radii = []
    for _ in range(4):
        run.opt.start_epoch()
        radii.append(run.opt.global_state["rho_scale"])
        assert run.opt.global_state["refresh"]
        run.step()
        assert not run.opt.global_state["refresh"]
    assert radii == expected


def test_zero_gradient_gives_zero_perturbation_not_nan():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = GraphSAM([w], "sgd", lr=LR)
    for _ in range(3):
        opt.step(lambda: (w * w).sum())
    assert torch.equal(w.detach(), torch.zeros(3, dtype=torch.float64))
    assert torch.isfinite(opt.state[w]["direction"]).all()


def test_weights_restored_exactly_before_the_base_step():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(50))
    before = w.detach().clone()
    opt = GraphSAM([w], "sgd", lr=0.0, rho=0.3)
    for _ in range(3):
        opt.step(lambda: (w.sin() ** 2).sum())
    assert torch.equal(w.detach(), before)  # lr 0: w + eps - eps would drift; a copy does not


def test_state_dict_holds_direction_epoch_and_radius():
    run = Split(rho=RHO)
    run.opt.start_epoch()
    run.step()
    run.opt.start_epoch()
    state = copy.deepcopy(run.opt.state_dict())
    assert state["global_state"]["epoch"] == 1
    assert state["global_state"]["refresh"] is True
    assert state["global_state"]["rho_scale"] == GAMMA
    assert all("direction" in s for s in state["state"].values())
    twin = Split(rho=RHO)
    twin.opt.load_state_dict(state)
    twin.a.data.copy_(run.a)
    twin.b.data.copy_(run.b)
    for _ in range(3):
        assert torch.equal(run.step(), twin.step())
    assert torch.equal(run.w, twin.w)


@pytest.mark.parametrize(("arg", "value"), [("beta", 1.5), ("gamma", 0.0), ("gamma", 2.0),
                                            ("decay_every", 0), ("eta", -1.0), ("rho", -0.1),
                                            ("radius", -0.01)])
def test_bad_hyper_parameters_are_refused_by_name(arg, value):
    with pytest.raises(ValueError, match=f"{arg} must be"):
        GraphSAM([torch.nn.Parameter(torch.zeros(2))], "adam", **{arg: value})


def test_manual_steps_are_refused_with_a_pointer_to_step():
    opt = GraphSAM([torch.nn.Parameter(torch.zeros(2))], "adam")
    with pytest.raises(NotImplementedError, match="manual steps"):
        opt.first_step()


@pytest.mark.filterwarnings("ignore:GraphSAM. after start_epoch")  # the schedule fades: known
@pytest.mark.parametrize("options", [{}, {"adaptive": True, "eta": 0.0, "radius": 0.05}],
                         ids=["defaults", "authors-perturbation"])
def test_trains_a_classifier_with_default_hyper_parameters(options):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = create_optimizer(model, "graphsam", lr=1e-2, **options)
    assert isinstance(opt, GraphSAM) and opt.model is model
    with torch.no_grad():
        start = float(F.cross_entropy(model(x), y))
    for _ in range(10):
        opt.start_epoch()
        for i in range(0, 200, 50):
            training_step(opt, lambda i=i: F.cross_entropy(model(x[i:i + 50]), y[i:i + 50]))
    with torch.no_grad():
        end = float(F.cross_entropy(model(x), y))
        acc = float((model(x).argmax(1) == y).float().mean())
    assert end < 0.3 * start and acc > 0.95


def test_repr_shows_the_schedule():
    opt = GraphSAM([torch.nn.Parameter(torch.zeros(2))], "adam", gamma=0.7)
    assert repr(opt).startswith("GraphSAM(base=Adam") and "gamma=0.7" in repr(opt)


G = torch.Generator().manual_seed(1)
X, Y = torch.randn(16, 4, generator=G), torch.randint(0, 3, (16,), generator=G)


def _net_and_closure():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    return net, lambda: F.cross_entropy(net(X), Y)


def test_grad_scaler_steps_match_unscaled_steps():
    net, closure = _net_and_closure()
    twin = copy.deepcopy(net)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    scaled_opt = GraphSAM(net.parameters(), "sgd", lr=0.1, rho=0.1)
    plain = GraphSAM(twin.parameters(), "sgd", lr=0.1, rho=0.1)
    for _ in range(3):
        scaled_opt.step(closure, scaler=scaler)
        scaler.update()
        plain.step(lambda: F.cross_entropy(twin(X), Y))
    for p, q in zip(net.parameters(), twin.parameters()):
        assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("refresh", [True, False], ids=["refresh pass", "descent pass"])
def test_overflow_skips_the_step_and_keeps_the_direction(refresh):
    net, closure = _net_and_closure()
    opt = GraphSAM(net.parameters(), "adam", lr=0.1)
    opt.step(closure)  # step 1 sets the direction
    if refresh:
        opt.start_epoch()  # the next step starts with a refresh pass
    before = [p.detach().clone() for p in net.parameters()]
    direction = [opt.state[p]["direction"].clone() for p in net.parameters()]
    calls = []

    def overflowing():  # the step's first pass overflows
        calls.append(None)
        return closure() * float("inf") if len(calls) == 1 else closure()

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    opt.step(overflowing, scaler=scaler)
    scaler.update()
    assert len(calls) == 1 and scaler.get_scale() == 2.0**9
    assert opt.global_state["step"] == 1
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
    assert all(torch.equal(opt.state[p]["direction"], d)
               for p, d in zip(net.parameters(), direction))
    assert opt.global_state["refresh"] is refresh  # a skipped refresh is retried
    name = "ascent" if refresh else "descent"
    with pytest.raises(FloatingPointError, match=f"the loss of the {name} pass is nan"):
        opt.step(lambda: closure() * float("nan"))
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))


def test_a_parameter_that_starts_receiving_gradients_triggers_a_refresh():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = GraphSAM([a, b], "sgd", lr=0.1)
    calls = []

    def closure(use_b):
        calls.append(None)
        return (a ** 2).sum() + ((b ** 2).sum() if use_b else 0.0)

    opt.step(lambda: closure(False))  # refresh: b has no gradient, so no direction
    assert "direction" not in opt.state[b]
    opt.step(lambda: closure(True))  # b is updated, not perturbed, and asks for a refresh
    assert opt.global_state["refresh"] and len(calls) == 3
    opt.step(lambda: closure(True))
    assert len(calls) == 5 and "direction" in opt.state[b]


def test_a_radius_faded_below_one_percent_warns_once():
    """At the defaults (gamma 0.5 every epoch) the 8th start_epoch() takes the radius to
    1/128 of rho: in a full-batch loop that is the 8th step, and GraphSAM says so, once."""
    import warnings

    from fgsam.optim.graphsam import FADED

    w = torch.nn.Parameter(torch.ones(2))
    opt = GraphSAM([w], torch.optim.SGD, lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(7):  # 0.5 ** 6 = 1/64 is still above 1%
            opt.start_epoch()
    assert opt.global_state["rho_scale"] >= FADED
    with pytest.warns(RuntimeWarning, match=r"after start_epoch\(\) call 8 the radius is "
                                            r"0.0078 x rho .* raise decay_every or gamma"):
        opt.start_epoch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.start_epoch()  # once only
    slow = GraphSAM([w], torch.optim.SGD, lr=0.1, decay_every=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(200):  # a full-batch schedule: 0.5 ** 3 after 200 steps
            slow.start_epoch()
