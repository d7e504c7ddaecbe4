"""The shared contract: BatchNorm, mixed precision, DDP, non-finite losses, persistence."""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from fgsam.optim import SAM, frozen_batchnorm_stats
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.vectors import global_norm, resolve_base_optimizer


def bn_net() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )


def data(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_perturbed_pass_leaves_batchnorm_statistics_alone():
    torch.manual_seed(0)
    net, x, y = bn_net(), *data()
    reference = copy.deepcopy(net)
    reference(x)  # one training-mode forward at w: what the statistics should see
    opt = SAM(net.parameters(), "sgd", lr=0.1, rho=0.5, model=net)
    opt.step(lambda: F.cross_entropy(net(x), y))
    bn, ref = net[1], reference[1]
    assert torch.equal(bn.running_mean, ref.running_mean)
    assert torch.equal(bn.running_var, ref.running_var)
    assert int(bn.num_batches_tracked) == 1
    assert bn.track_running_stats  # restored after the pass


def test_frozen_batchnorm_stats_still_normalises_with_batch_statistics():
    net, (x, _) = bn_net(), data()
    out_free = net(x)
    net[1].reset_running_stats()
    with frozen_batchnorm_stats(net):
        out_frozen = net(x)
    assert torch.allclose(out_free, out_frozen)
    assert int(net[1].num_batches_tracked) == 0


# ------------------------------------------------------------------ mixed precision
def linear_problem():
    torch.manual_seed(0)
    net, (x, y) = torch.nn.Linear(4, 3), data()
    return net, lambda: F.cross_entropy(net(x), y)


def test_grad_scaler_step_matches_the_unscaled_step():
    net, closure = linear_problem()
    twin = copy.deepcopy(net)
    x, y = data()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    opt = SAM(net.parameters(), "sgd", lr=0.1)
    opt.step(closure, scaler=scaler)
    scaler.update()
    plain = SAM(twin.parameters(), "sgd", lr=0.1)
    plain.step(lambda: F.cross_entropy(twin(x), y))
    for p, q in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad_pass", [0, 1], ids=["ascent", "descent"])
def test_grad_scaler_overflow_skips_the_step_and_restores_weights(bad_pass):
    net, closure = linear_problem()
    before = [p.detach().clone() for p in net.parameters()]
    calls = []

    def overflowing():
        calls.append(None)
        loss = closure()
        return loss * float("inf") if len(calls) - 1 == bad_pass else loss

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    opt = SAM(net.parameters(), "adam", lr=0.1)
    opt.step(overflowing, scaler=scaler)
    scaler.update()
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
    assert scaler.get_scale() == 2.0**9  # the scaler saw the overflow and backed off
    assert opt.global_state["step"] == 0
    assert not opt.base_optimizer.state  # Adam never stepped
    opt.step(closure, scaler=scaler)  # and the next step goes through
    scaler.update()
    assert opt.global_state["step"] == 1
    assert not all(torch.equal(p, b) for p, b in zip(net.parameters(), before))


def test_natural_overflow_of_a_huge_scale_is_skipped():
    net, closure = linear_problem()
    before = [p.detach().clone() for p in net.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120)  # scaled loss overflows fp32
    opt = SAM(net.parameters(), "sgd", lr=0.1)
    opt.step(lambda: 1e6 * closure(), scaler=scaler)
    scaler.update()
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
    assert scaler.get_scale() == 2.0**119


# --------------------------------------------------------------- non-finite losses
@pytest.mark.parametrize(("bad_pass", "name"), [(0, "ascent"), (1, "descent")])
def test_non_finite_loss_raises_naming_the_pass_and_step(bad_pass, name):
    net, closure = linear_problem()
    opt = SAM(net.parameters(), "sgd", lr=0.1)
    opt.step(closure)
    before = [p.detach().clone() for p in net.parameters()]
    calls = []

    def nan_loss():
        calls.append(None)
        return closure() * float("nan") if len(calls) - 1 == bad_pass else closure()

    with pytest.raises(FloatingPointError, match=rf"{name} pass is nan at step 1"):
        opt.step(nan_loss)
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))


def test_closure_must_return_a_scalar_tensor():
    net, _ = linear_problem()
    opt = SAM(net.parameters(), "sgd", lr=0.1)
    with pytest.raises(TypeError, match="one-element tensor"):
        opt.step(lambda: 1.0)
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()


# -------------------------------------------------------------------- persistence
def test_base_optimizer_shares_param_groups_and_schedulers_attach_there():
    net, closure = linear_problem()
    opt = SAM(net.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9)
    assert opt.param_groups is opt.base_optimizer.param_groups
    sched = torch.optim.lr_scheduler.StepLR(opt.base_optimizer, step_size=1, gamma=0.5)
    opt.step(closure)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    extra = torch.nn.Parameter(torch.zeros(2))
    opt.add_param_group({"params": [extra], "rho": 0.1})
    assert opt.base_optimizer.param_groups[-1]["momentum"] == 0.9
    assert opt.param_groups[-1]["perturb"] is True


def test_state_dict_holds_the_base_optimizer_and_rejects_foreign_dicts():
    net, closure = linear_problem()
    opt = SAM(net.parameters(), "adam", lr=0.1)
    opt.step(closure)
    state = opt.state_dict()
    assert state["base_optimizer"]["state"][0]["exp_avg"].shape == net.weight.shape
    assert state["global_state"]["step"] == 1
    with pytest.raises(ValueError, match="base_optimizer"):
        opt.load_state_dict(torch.optim.Adam(net.parameters()).state_dict())


def test_base_optimizer_by_name_and_bad_names():
    assert resolve_base_optimizer("AdamW") is torch.optim.AdamW
    with pytest.raises(ValueError, match="valid names:.*adam"):
        resolve_base_optimizer("adamm")
    with pytest.raises(ValueError, match="base_optimizer"):
        SAM([torch.nn.Parameter(torch.zeros(1))], object, lr=0.1)


def test_global_norm_spans_tensors():
    xs = [torch.tensor([3.0]), torch.tensor([[4.0, 0.0]])]
    assert float(global_norm(xs)) == 5.0
    assert float(global_norm([])) == 0.0


def test_abstract_base_has_no_manual_steps():
    opt = SharpnessAwareOptimizer([torch.nn.Parameter(torch.zeros(1))], "sgd", lr=0.1)
    with pytest.raises(NotImplementedError):
        opt.first_step()


# ------------------------------------------------------------------ the step template
class SignSAM(SharpnessAwareOptimizer):
    """SAM over the max-norm ball, ε = ρ sign(g): a method defined by its ascent only."""

    def __init__(self, params, base_optimizer, rho=0.05, halve=False, **kwargs):
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.halve = halve
        self.ascents = 0

    @torch.no_grad()
    def ascend(self, check_overflow=False):
        pairs = [(p, group["rho"]) for group, ps in self.perturbed_groups() for p in ps]
        if check_overflow and not bool(torch.isfinite(global_norm([p.grad for p, _ in pairs]))):
            return False
        self.ascents += 1
        self.perturb([p for p, _ in pairs], [p.grad.sign() * rho for p, rho in pairs])
        return True

    def before_descend(self, scaler):
        if self.halve:
            for p in self.params_with_grad():
                p.grad.mul_(0.5)


Q = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
V0 = torch.tensor([1.0, -3.0], dtype=torch.float64)


@pytest.mark.parametrize("halve", [False, True])
def test_a_method_defining_its_ascent_gets_step_and_manual_steps(halve):
    w = torch.nn.Parameter(V0.clone())
    opt = SignSAM([w], "sgd", rho=0.1, halve=halve, lr=0.1)
    loss = opt.step(lambda: 0.5 * w @ Q @ w)
    g = Q @ V0
    g_s = Q @ (V0 + 0.1 * torch.sign(g))
    expected = V0 - 0.1 * (0.5 if halve else 1.0) * g_s
    torch.testing.assert_close(w.detach(), expected, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(loss, 0.5 * V0 @ Q @ V0, rtol=1e-13, atol=1e-15)
    manual_w = torch.nn.Parameter(V0.clone())
    manual = SignSAM([manual_w], "sgd", rho=0.1, halve=halve, lr=0.1)
    (0.5 * manual_w @ Q @ manual_w).backward()
    manual.first_step(zero_grad=True)
    (0.5 * manual_w @ Q @ manual_w).backward()
    manual.second_step(zero_grad=True)
    assert torch.equal(manual_w.detach(), w.detach())


class KeepsState(SignSAM):
    ascent_keeps_state = True


@pytest.mark.parametrize("cls", [SignSAM, KeepsState])
def test_a_non_finite_first_pass_never_reaches_an_ascent_that_keeps_state(cls):
    w = torch.nn.Parameter(V0.clone())
    opt = cls([w], "sgd", lr=0.1)
    with pytest.raises(FloatingPointError, match="the loss of the ascent pass is nan"):
        opt.step(lambda: 0.5 * w @ Q @ w * float("nan"))
    assert opt.ascents == (0 if cls is KeepsState else 1)
    assert torch.equal(w.detach(), V0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    calls = []
    opt.step(lambda: (calls.append(1), 0.5 * w @ Q @ w * float("inf"))[1], scaler=scaler)
    scaler.update()
    assert opt.ascents == (0 if cls is KeepsState else 1) and len(calls) == 1
    assert scaler.get_scale() == 2.0**9 and torch.equal(w.detach(), V0)


# ---------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, init_file: str, out: str, sync_ascent: bool) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        ddp = torch.nn.parallel.DistributedDataParallel(net)
        x, y = data(seed=1, n=16)
        xs, ys = x[rank * 8 : (rank + 1) * 8], y[rank * 8 : (rank + 1) * 8]
        opt = SAM(ddp.parameters(), "sgd", lr=0.5, rho=0.1, model=ddp, sync_ascent=sync_ascent)
        for _ in range(3):
            opt.step(lambda: F.cross_entropy(ddp(xs), ys))
        torch.save([p.detach() for p in net.parameters()], f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _single_process(rho: float = 0.1) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x, y = data(seed=1, n=16)
    opt = SAM(net.parameters(), "sgd", lr=0.5, rho=rho)
    for _ in range(3):
        opt.step(lambda: F.cross_entropy(net(x), y))
    return [p.detach() for p in net.parameters()]


@pytest.mark.parametrize("sync_ascent", [False, True])
def test_ddp_two_processes(tmp_path, sync_ascent):
    out = str(tmp_path / "weights")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), out, sync_ascent), nprocs=2)
    w0, w1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for a, b in zip(w0, w1):  # the descent is synchronised: ranks agree exactly
        assert torch.equal(a, b)
    single = _single_process()
    close = all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(w0, single))
    # A synchronised ascent is SAM on the concatenated batch; a local one (m-sharpness) is not.
    assert close is sync_ascent
