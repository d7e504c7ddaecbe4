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


def test_virtual_node_by_hand(batch):
    """GIN-virtual's forward written out from its own modules (eval mode: no dropout)."""
    from torch_geometric.nn import global_add_pool, global_mean_pool

    from fgsam.nn.models import MolGINVirtual

    torch.manual_seed(0)
    model = MolGINVirtual(num_tasks=2, hidden=16, layers=3).eval()
    torch.nn.init.normal_(model.virtual.weight)  # a non-zero start makes the test stronger
    v = model.virtual.weight.expand(batch.num_graphs, -1)
    h = model.atom_encoder(batch.x)
    for i in range(3):
        h_in = h + v[batch.batch]
        h = model.norms[i](model.convs[i](h_in, batch.edge_index,
                                          model.bond_encoders[i](batch.edge_attr)))
        if i < 2:
            h = h.relu()
            v = model.virtual_mlps[i](global_add_pool(h_in, batch.batch) + v)
    expected = model.head(global_mean_pool(h, batch.batch))
    assert_close(model(batch), expected)
    assert "virtual_node=True" in repr(model)


def test_virtual_node_parameters_are_ogbs_design():
    """OGB's GIN-virtual adds a zero-initialised state and one 2-layer MLP (width 2d, with
    BatchNorm) per layer but the last: 300 + 4 x 362,700 = 1,451,100 parameters at d = 300;
    the two totals, 1,885,506 and 3,336,606, are OGB's leaderboard counts (1,885,206 and
    3,336,306) plus the 300 of one more bond-feature row in this version of OGB's encoder."""
    from fgsam.nn.models import MolGINVirtual

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    gin, virtual = MolGIN(num_tasks=1), MolGINVirtual(num_tasks=1)
    assert count(virtual) - count(gin) == 1_451_100
    assert (count(gin), count(virtual)) == (1_885_506, 3_336_606)
    assert torch.count_nonzero(virtual.virtual.weight) == 0
