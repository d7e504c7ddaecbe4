"""The masked molecule loss: NaN labels contribute nothing."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.mol.loss import masked_loss

PRED = torch.tensor([[0.5, -1.0], [2.0, 0.0], [0.3, 0.1]], dtype=torch.float64)
Y = torch.tensor([[1.0, math.nan], [0.0, 1.0], [math.nan, math.nan]], dtype=torch.float64)


def bce(z: float, y: float) -> float:
    return -(y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z))))


def test_classification_averages_over_labelled_entries_only():
    expected = (bce(0.5, 1) + bce(2.0, 0) + bce(0.0, 1)) / 3
    loss = masked_loss(PRED, Y, "binary classification")
    assert_close(loss, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    loss.requires_grad_()  # finite even though some labels are NaN
    pred = PRED.clone().requires_grad_()
    masked_loss(pred, Y, "binary classification").backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[2] == 0).all()


def test_regression_and_per_sample_losses():
    expected = ((0.5 - 1) ** 2 + (2.0 - 0) ** 2 + (0.0 - 1) ** 2) / 3
    assert_close(masked_loss(PRED, Y, "regression"),
                 torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    per_sample = masked_loss(PRED, Y, "regression", per_sample=True)
    assert_close(per_sample, torch.tensor([0.25, (4.0 + 1.0) / 2], dtype=torch.float64),
                 rtol=1e-12, atol=1e-14)  # the molecule without any label is left out


def test_unknown_task_type_and_shape_mismatch_are_named():
    with pytest.raises(ValueError, match="task_type must be"):
        masked_loss(PRED, Y, "multiclass")
    with pytest.raises(ValueError, match=r"pred has shape \(3, 1\) but y has \(3, 2\)"):
        masked_loss(PRED[:, :1], Y, "regression")
