"""A saved model's training loss as a closure (few-shot and molecule checkpoints)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fgsam.cli import main
from fgsam.sharpness import rho_sharpness
from fgsam.sharpness.checkpoint_loss import (
    CheckpointLoss,
    checkpoint_kind,
    checkpoint_loss,
    read_checkpoint_config,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fsnc_checkpoint(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """ProtoNet trained for a few 2-way tasks on Cora, saved by ``fgsam fsnc``."""
    folder = tmp_path_factory.mktemp("fsnc") / "protonet"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    status = main(["fsnc", "--dataset", "cora", "--method", "protonet", "--episodes", "4",
                   "--val-every", "2", "--val-tasks", "2", "--test-tasks", "2", "--repeats",
                   "1", "--root", str(data_root), "--quiet", "--save-checkpoint", str(folder)])
    torch.set_num_threads(threads)
    assert status == 0
    return folder


@pytest.fixture(scope="module")
def mol_checkpoint(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A one-layer GIN trained one epoch on 60 FreeSolv molecules, saved by ``fgsam mol``."""
    base = tmp_path_factory.mktemp("mol")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    status = main(["mol", "--dataset", "ogbg-molfreesolv", "--model", "gin", "--optimizer",
                   "adam", "--max-molecules", "60", "--epochs", "1", "--seeds", "1", "--hidden",
                   "8", "--layers", "1", "--batch-size", "16", "--root", str(data_root),
                   "--cache-dir", str(base / "cache"), "--no-progress", "--save-checkpoint",
                   str(base / "gin")])
    torch.set_num_threads(threads)
    assert status == 0
    return base / "gin"


def test_fsnc_loss_is_the_mean_over_the_first_training_tasks(fsnc_checkpoint):
    from fgsam.fewshot.checkpoint import load_checkpoint
    from fgsam.fewshot.sampler import EpisodeSampler

    loss = checkpoint_loss(fsnc_checkpoint, tasks=3)
    assert isinstance(loss, CheckpointLoss) and loss.kind == "fsnc"
    assert not loss.model.training
    assert loss.num_parameters == sum(p.numel() for p in loss.model.parameters()) > 0
    assert "first 3 training tasks" in loss.description
    assert "parts=3" in repr(loss) and "'cora'" in repr(loss)

    # Independently: the tasks the training sampler drew first, and ProtoNet's loss on them.
    config = json.loads((fsnc_checkpoint / "config.json").read_text(encoding="utf-8"))
    ckpt = load_checkpoint(fsnc_checkpoint)
    sampler = EpisodeSampler(ckpt.data.y, ckpt.split.train, config["n_way"], config["k_shot"],
                             config["q_query"], generator=config["train_seed"])
    tasks = [sampler.sample() for _ in range(3)]
    for part, task in zip(loss.parts, tasks):
        torch.testing.assert_close(part.support, task.support, rtol=0, atol=0)
        torch.testing.assert_close(part.query, task.query, rtol=0, atol=0)
    with torch.no_grad():
        per_task = [F.cross_entropy(ckpt.method(ckpt.data, t), t.query_y) for t in tasks]
        torch.testing.assert_close(loss(), torch.stack(per_task).mean(), rtol=1e-6, atol=0)


def test_one_graph_pass_for_all_tasks_gives_the_same_gradient(fsnc_checkpoint, monkeypatch):
    loss = checkpoint_loss(fsnc_checkpoint, tasks=3, dtype=torch.float64)
    method, calls = loss.model, []
    original = type(method).on_graph

    def counted(self, module, data):
        calls.append(module)
        return original(self, module, data)

    monkeypatch.setattr(type(method), "on_graph", counted)
    shared = torch.autograd.grad(loss(), loss.params)
    assert len(calls) == 1  # ProtoNet: its encoder, once for the three tasks
    data = load_checkpoint_data(fsnc_checkpoint, torch.float64)
    separate = [torch.autograd.grad(method.loss(data, t), loss.params) for t in loss.parts]
    assert len(calls) == 4
    for g, *per_task in zip(shared, *separate):
        torch.testing.assert_close(g, sum(per_task) / 3, rtol=1e-12, atol=1e-14)


def load_checkpoint_data(folder, dtype):
    from fgsam.fewshot.checkpoint import load_checkpoint

    data = load_checkpoint(folder).data
    data.x = data.x.to(dtype)
    return data


def test_fsnc_loss_is_deterministic_and_weights_come_back(fsnc_checkpoint):
    loss = checkpoint_loss(fsnc_checkpoint, tasks=2, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in loss.params)
    before = [p.detach().clone() for p in loss.params]
    with torch.no_grad():
        centre = float(loss())
        assert float(loss()) == centre
    worst = rho_sharpness(loss, loss.params, rho=0.05, steps=3)
    assert worst.value > 0
    for p, b in zip(loss.params, before):
        torch.testing.assert_close(p.detach(), b, rtol=0, atol=0)
    with torch.no_grad():
        assert float(loss()) == centre


def test_mol_loss_is_the_mean_over_the_first_training_batches(mol_checkpoint):
    from fgsam.mol.model import load_mol_checkpoint

    loss = checkpoint_loss(mol_checkpoint, tasks=2)
    assert loss.kind == "mol" and not loss.model.training
    assert "first 2 training batches of 16 molecules" in loss.description
    model, data, _ = load_mol_checkpoint(mol_checkpoint)
    train = data.subset("train")
    with torch.no_grad():
        expected = []
        for start in (0, 16):
            from torch_geometric.data import Batch

            batch = Batch.from_data_list([train[i] for i in range(start, start + 16)])
            pred = model(batch)
            labelled = ~torch.isnan(batch.y)
            expected.append(((pred - batch.y)[labelled] ** 2).mean())  # FreeSolv: regression
        torch.testing.assert_close(loss(), torch.stack(expected).mean(), rtol=1e-6, atol=0)


def test_mol_loss_refuses_more_batches_than_the_training_set(mol_checkpoint):
    with pytest.raises(ValueError, match="tasks=50 asks for more training batches"):
        checkpoint_loss(mol_checkpoint, tasks=50)


def test_kind_rule():
    assert checkpoint_kind({"n_way": 5, "k_shot": 3, "q_query": 8}) == "fsnc"
    assert checkpoint_kind({"num_tasks": 1, "metric": "rmse", "dataset": "x"}) == "mol"
    with pytest.raises(ValueError, match="it holds none of them"):
        checkpoint_kind({"dataset": "cora"})
    with pytest.raises(ValueError, match="not both"):
        checkpoint_kind({"n_way": 5, "k_shot": 3, "q_query": 8, "num_tasks": 1,
                         "metric": "rmse"})


def test_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json and model.pt not found"):
        read_checkpoint_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        read_checkpoint_config(tmp_path)


@pytest.mark.parametrize("tasks", [0, -1, 2.0, True])
def test_tasks_must_be_a_positive_int(tmp_path, tasks):
    with pytest.raises(ValueError, match="tasks must be a positive int"):
        checkpoint_loss(tmp_path, tasks=tasks)


def test_a_spoilt_mol_checkpoint_is_named_before_any_data_is_loaded(mol_checkpoint, tmp_path):
    from fgsam.mol.model import load_mol_checkpoint

    folder = tmp_path / "spoilt"
    shutil.copytree(mol_checkpoint, folder)
    weights = folder / "model.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    # a data root that does not exist: reading it would fail otherwise
    with pytest.raises(ValueError, match=rf"{weights} cannot be read as a torch state dict .* "
                                         rf"written by fgsam mol --save-checkpoint DIR"):
        load_mol_checkpoint(folder, root=tmp_path / "nowhere")
    (folder / "config.json").write_text('{"dataset": "ogbg-molfreesolv"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"config.json lacks the keys \['model', 'optimizer'"):
        load_mol_checkpoint(folder, root=tmp_path / "nowhere")


def test_mol_weights_of_another_model_are_named(mol_checkpoint, tmp_path):
    from fgsam.mol.model import load_mol_checkpoint

    folder = tmp_path / "foreign"
    shutil.copytree(mol_checkpoint, folder)
    torch.save(torch.nn.Linear(3, 2).state_dict(), folder / "model.pt")
    with pytest.raises(ValueError, match=rf"{folder / 'model.pt'} does not fit the model its "
                                         rf"config.json describes \(TargetScaling\): Missing"):
        load_mol_checkpoint(folder)
