from __future__ import annotations

import json

import pytest
import torch

from fgsam.data import load_graph
from fgsam.fewshot.checkpoint import CONFIG, WEIGHTS, load_checkpoint, save_checkpoint
from fgsam.fewshot.method_registry import create_method
from fgsam.fewshot.sampler import EpisodeSampler


def config(**kw) -> dict:
    return {"dataset": "cora", "split_seed": 0, "method": "metagnn",
            "method_args": {"inner_steps": 2}, "hidden": 8, "dropout": 0.2, "n_way": 2,
            "k_shot": 3, "q_query": 10, "train_seed": 1234, "optimizer": "fgsam"} | kw


def test_round_trip_rebuilds_method_graph_split_and_training_tasks(data_root, tmp_path):
    data, split = load_graph("cora", data_root)
    model = create_method("metagnn", data.num_features, 7, 2, 8, 0.2, inner_steps=2)
    model.reset_parameters(9)
    save_checkpoint(tmp_path, model, config(root=str(data_root)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CONFIG, WEIGHTS])
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.method.inner_steps == 2 and not ckpt.method.training
    for (name, p), q in zip(model.state_dict().items(), ckpt.method.state_dict().values()):
        assert torch.equal(p, q), name
    assert ckpt.split.train == split.train and ckpt.data.num_nodes == 2708
    expected = EpisodeSampler(data.y, split.train, 2, 3, 10, generator=1234).sample_tasks(3)
    for a, b in zip(expected, ckpt.sampler.sample_tasks(3)):
        assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    episode = ckpt.sampler.sample()
    assert torch.isfinite(ckpt.method.loss(ckpt.data, episode))
    assert "MetaGNN on cora" in repr(ckpt)


def test_incomplete_config_and_missing_files_are_refused(data_root, tmp_path):
    model = create_method("gpn", 1433, 7, 2)
    bad = config()
    del bad["train_seed"]
    with pytest.raises(ValueError, match="train_seed"):
        save_checkpoint(tmp_path, model, bad)
    assert not (tmp_path / WEIGHTS).exists()
    with pytest.raises(FileNotFoundError, match="config.json and model.pt"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, model, config(method="gpn", method_args={}))
    cfg = json.loads((tmp_path / CONFIG).read_text())
    del cfg["dataset"]
    (tmp_path / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="dataset"):
        load_checkpoint(tmp_path, root=data_root)
