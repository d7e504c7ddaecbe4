"""Regression outputs scaled to the training labels."""

from __future__ import annotations

import math

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
