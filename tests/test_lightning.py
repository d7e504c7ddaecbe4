"""fgsam.lightning against the real ``lightning`` package: manual optimisation trains a PyG
GCN as the plain-PyTorch loop does, GraphSAM's epochs are started, automatic optimisation
is refused with the one-line message."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

L = pytest.importorskip("lightning")

from lightning.pytorch.plugins import MixedPrecision  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402
from torch_geometric.nn import GCN  # noqa: E402

from fgsam.data import GraphShape, synthetic_graph  # noqa: E402
from fgsam.lightning import (  # noqa: E402
    AUTOMATIC,
    SharpnessAwareCallback,
    SharpnessAwareMixin,
    fgsam_step,
)
from fgsam.nn import peer_forward  # noqa: E402
from fgsam.optim import create_optimizer, training_step  # noqa: E402

# Lightning's own pytree code under a newer torch; nothing of fgsam's.
pytestmark = pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated")

STEPS_PER_EPOCH, EPOCHS = 2, 2
OPTIONS = {"sam": {}, "fgsam": {}, "fgsam+": {}, "graphsam": {"decay_every": 1},
           "sgd": {}}


def graph():
    return synthetic_graph(GraphShape(100, 600, 8, 3), seed=0)


def gcn() -> GCN:
    torch.manual_seed(0)
    return GCN(8, 16, 2, 3, dropout=0.0)


def make_optimizer(name: str, model: torch.nn.Module):
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.1)
    return create_optimizer(model, name, base="sgd", rho=0.05, lr=0.1, **OPTIONS[name])


def closures(model: torch.nn.Module, data):
    nodes = torch.arange(0, data.num_nodes, 2)

    def closure():
        return F.cross_entropy(model(data.x, data.edge_index)[nodes], data.y[nodes])

    def peer_closure():
        return F.cross_entropy(peer_forward(model, data.x, nodes), data.y[nodes])

    return closure, peer_closure


class Node(L.LightningModule):
    def __init__(self, name: str, automatic: bool = False) -> None:
        super().__init__()
        self.automatic_optimization = automatic
        self.gcn, self.name = gcn(), name
        self.losses: list[float] = []

    def training_step(self, data, batch_idx):
        closure, peer_closure = closures(self.gcn, data)
        loss = fgsam_step(self, self.optimizers(), closure, peer_closure)
        self.losses.append(float(loss))

    def configure_optimizers(self):
        return make_optimizer(self.name, self.gcn)


class MixinNode(SharpnessAwareMixin, Node):
    def training_step(self, data, batch_idx):
        closure, peer_closure = closures(self.gcn, data)
        self.losses.append(float(self.sharpness_aware_step(closure, peer_closure)))


class AutomaticNode(Node):
    def training_step(self, data, batch_idx):
        return closures(self.gcn, data)[0]()


def trainer(**kwargs) -> L.Trainer:
    options = {"max_steps": STEPS_PER_EPOCH * EPOCHS, "accelerator": "cpu", "devices": 1,
               "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
               "enable_model_summary": False, **kwargs}
    return L.Trainer(**options)


def loader() -> DataLoader:
    return DataLoader([graph()] * STEPS_PER_EPOCH, batch_size=1)


def plain_loop(name: str, autocast: torch.dtype | None = None, scaler=None):
    model, data = gcn(), graph()
    opt = make_optimizer(name, model)
    closure, peer_closure = closures(model, data)
    losses = []
    for _ in range(EPOCHS):
        if hasattr(opt, "start_epoch"):
            opt.start_epoch()
        for _ in range(STEPS_PER_EPOCH):
            # Lightning's autocast, uncached: a cached cast would miss the perturbed weights.
            with torch.autocast("cpu", dtype=autocast or torch.bfloat16,
                                enabled=autocast is not None, cache_enabled=False):
                losses.append(float(training_step(opt, closure, peer_closure, scaler)))
            if scaler is not None:
                scaler.update()
    return model, opt, losses


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, **tolerance) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=name, **tolerance)


@pytest.mark.parametrize("name", ["sam", "fgsam", "fgsam+", "graphsam", "sgd"])
def test_manual_optimisation_matches_the_plain_loop(name: str) -> None:
    module = Node(name)
    initial = copy.deepcopy(module.gcn)
    trainer(callbacks=[SharpnessAwareCallback()]).fit(module, loader())
    model, _, losses = plain_loop(name)
    assert module.trainer.global_step == STEPS_PER_EPOCH * EPOCHS
    assert_same_weights(module.gcn, model)
    assert module.losses == pytest.approx(losses)
    moved = any(not torch.equal(p, q) for p, q in
                zip(initial.parameters(), module.gcn.parameters(), strict=True))
    assert moved


def test_graphsam_epochs_are_started_once_per_epoch() -> None:
    module = Node("graphsam")
    trainer(callbacks=[SharpnessAwareCallback()]).fit(module, loader())
    assert module.trainer.current_epoch == EPOCHS
    assert module.trainer.optimizers[0].global_state["epoch"] == EPOCHS - 1


def test_the_mixin_adds_the_callback_once() -> None:
    module = MixinNode("graphsam")
    # The module's callback replaces the trainer's: start_epoch still once per epoch.
    trainer(callbacks=[SharpnessAwareCallback()]).fit(module, loader())
    callbacks = [c for c in module.trainer.callbacks if isinstance(c, SharpnessAwareCallback)]
    assert len(callbacks) == 1
    assert module.trainer.optimizers[0].global_state["epoch"] == EPOCHS - 1
    model, _, losses = plain_loop("graphsam")
    assert_same_weights(module.gcn, model)
    assert module.losses == pytest.approx(losses)


@pytest.mark.parametrize("module", [AutomaticNode("fgsam", automatic=True),
                                    MixinNode("sam", automatic=True)])
def test_automatic_optimisation_is_refused_with_one_line(module) -> None:
    with pytest.raises(RuntimeError) as info:
        trainer(callbacks=[SharpnessAwareCallback()]).fit(module, loader())
    message = str(info.value)
    assert message == AUTOMATIC and "\n" not in message
    assert "self.automatic_optimization = False" in message


@pytest.mark.parametrize("name", ["sam", "fgsam", "fgsam+", "graphsam"])
def test_automatic_optimisation_without_the_callback_is_refused_by_the_optimizer(name) -> None:
    # Lightning hands step() its own closure, which ran backward already: the optimizer
    # recognises it and says what to do, before any pass moves the weights
    module = AutomaticNode(name, automatic=True)
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(RuntimeError) as info:
        trainer().fit(module, loader())
    assert str(info.value) == AUTOMATIC
    assert all(torch.equal(p, q) for p, q in zip(module.parameters(), before, strict=True))


def test_the_step_refuses_automatic_optimisation() -> None:
    module = Node("sam", automatic=True)
    with pytest.raises(RuntimeError, match="automatic_optimization = False"):
        fgsam_step(module, None, lambda: torch.zeros(()))


def test_fgsam_without_peer_closure_says_so() -> None:
    class NoPeer(Node):
        def training_step(self, data, batch_idx):
            fgsam_step(self, self.optimizers(), closures(self.gcn, data)[0])

    with pytest.raises(ValueError, match="needs peer_closure"):
        trainer().fit(NoPeer("fgsam"), loader())


@pytest.mark.parametrize("name", ["sam", "fgsam"])
def test_bf16_mixed_runs_under_autocast_and_matches_the_autocast_loop(name: str) -> None:
    module = Node(name)
    trainer(precision="bf16-mixed", callbacks=[SharpnessAwareCallback()]).fit(module, loader())
    model, _, losses = plain_loop(name, autocast=torch.bfloat16)
    # Autocast computes in bf16 but the weights stay float32.
    assert all(p.dtype == torch.float32 for p in module.gcn.parameters())
    assert_same_weights(module.gcn, model)
    assert module.losses == pytest.approx(losses)


@pytest.mark.parametrize("name", ["sam", "fgsam", "graphsam", "sgd"])
def test_16_mixed_with_a_scaler_matches_the_scaled_loop(name: str) -> None:
    # Lightning turns precision="16-mixed" into bf16 on CPU; the plugin keeps fp16 and a scaler.
    module = Node(name)
    fit = trainer(plugins=[MixedPrecision("16-mixed", "cpu")],
                  callbacks=[SharpnessAwareCallback()])
    fit.fit(module, loader())
    scaler = torch.amp.GradScaler("cpu")
    model, _, losses = plain_loop(name, autocast=torch.half, scaler=scaler)
    assert fit.precision_plugin.scaler is not None and fit.global_step == STEPS_PER_EPOCH * EPOCHS
    assert fit.precision_plugin.scaler.get_scale() == scaler.get_scale()
    assert_same_weights(module.gcn, model)
    assert module.losses == pytest.approx(losses)


class HookCount(L.Callback):
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.calls.append(next(pl_module.parameters()).grad is None)


@pytest.mark.parametrize(("name", "per_step"), [("sam", 2), ("fgsam", 1), ("graphsam", None)])
def test_on_before_optimizer_step_runs_once_per_gnn_closure(name: str, per_step) -> None:
    count = HookCount()
    trainer(callbacks=[SharpnessAwareCallback(), count]).fit(Node(name), loader())
    # GraphSAM evaluates its closure twice on the first step of an epoch, once on the others.
    expected = per_step * STEPS_PER_EPOCH * EPOCHS if per_step else (STEPS_PER_EPOCH + 1) * EPOCHS
    assert len(count.calls) == expected and all(count.calls)
