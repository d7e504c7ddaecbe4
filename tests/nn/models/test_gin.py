"""MolGIN, the GIN baseline with bond features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torch_geometric.data import Batch

from fgsam.nn.models import MolGIN


def test_eval_predictions_do_not_depend_on_the_batch(molecules, batch):
    torch.manual_seed(0)
    model = MolGIN(num_tasks=2, hidden=16, layers=3).eval()
    out = model(batch)
    alone = torch.cat([model(Batch.from_data_list([m])) for m in molecules])
    assert out.shape == (len(molecules), 2)
    assert_close(out, alone, rtol=1e-5, atol=1e-5)


def test_fits_labels_of_a_small_batch(batch):
    torch.manual_seed(0)
    model = MolGIN(num_tasks=1, hidden=16, layers=2, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(batch), batch.y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="hidden must be an integer >= 1, got 0"):
        MolGIN(num_tasks=1, hidden=0)
    assert "num_tasks=1, hidden=8, layers=2" in repr(MolGIN(1, hidden=8, layers=2))
