"""Regression outputs scaled to the training labels."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.mol.model import TargetScaling


def test_statistics_ignore_missing_labels_and_scale_the_output():
    labels = torch.tensor([[1.0, math.nan], [3.0, 5.0], [5.0, 5.0]])
    inner = torch.nn.Identity()
    model = TargetScaling.fit(inner, labels)
    assert_close(model.mean, torch.tensor([3.0, 5.0]))
    assert_close(model.std, torch.tensor([2.0, 1.0]))  # a zero spread is read as 1
    z = torch.tensor([[0.5, -1.0]])
    assert_close(model(z), torch.tensor([[4.0, 4.0]]))
    state = model.state_dict()
    assert set(state) == {"mean", "std"}
    again = TargetScaling(torch.nn.Identity(), torch.zeros(2), torch.ones(2))
    again.load_state_dict(state)
    assert_close(again(z), model(z))


def test_a_loaded_checkpoint_is_a_dataclass_that_unpacks_as_a_tuple():
    import dataclasses

    from fgsam.mol import MolCheckpoint

    ckpt = MolCheckpoint(torch.nn.Linear(1, 1), None, {"seed": 0})
    model, data, config = ckpt
    assert dataclasses.is_dataclass(ckpt) and model is ckpt.model and data is None
    assert config == {"seed": 0}


def test_model_arguments_resolve_the_defaults_a_run_was_built_with():
    from fgsam.mol.model import model_arguments

    assert model_arguments("gin", hidden=None, layers=3, dropout=None) == {
        "hidden": 300, "layers": 3, "dropout": 0.5, "virtual_node": False}
    assert model_arguments("gin-virtual") == {"hidden": 300, "layers": 5, "dropout": 0.5}
    assert model_arguments("transformer", hidden=64, heads=None, full_attention=None) == {
        "hidden": 64, "layers": 4, "heads": 8, "dropout": 0.1, "full_attention": False,
        "max_full_nodes": 64}
    with pytest.raises(ValueError, match="unknown model 'mlp'; valid: transformer, gin"):
        model_arguments("mlp")
