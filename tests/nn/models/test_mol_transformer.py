"""MolTransformer: shapes, per-molecule independence, the dense-attention reference, devices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torch_geometric.data import Batch

from fgsam.nn.models import MolTransformer, SparseAttention
from tests.nn.models.test_sparse_attention import dense_attention

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("full", [False, True])
def test_each_molecule_is_predicted_independently_of_its_batch(molecules, batch, full):
    torch.manual_seed(0)
    model = MolTransformer(num_tasks=3, hidden=32, layers=2, heads=4, full_attention=full,
                           max_full_nodes=9).eval()
    out = model(batch)
    assert out.shape == (len(molecules), 3)
    alone = torch.cat([model(Batch.from_data_list([m])) for m in molecules])
    assert_close(out, alone, rtol=1e-5, atol=1e-5)
    assert_close(model(molecules[2]), out[2:3], rtol=1e-5, atol=1e-5)  # a bare Data too


@pytest.mark.parametrize("full", [False, True], ids=["bonded", "full"])
def test_equals_the_same_model_on_dense_masked_softmax_attention(batch, monkeypatch, full):
    torch.manual_seed(0)
    model = MolTransformer(num_tasks=2, hidden=32, layers=2, heads=4, dropout=0.0,
                           full_attention=full, max_full_nodes=9).eval()
    params = list(model.parameters())
    out = model(batch)
    grads = torch.autograd.grad(out.sum(), params)
    monkeypatch.setattr(SparseAttention, "forward", dense_attention)
    ref = model(batch)
    ref_grads = torch.autograd.grad(ref.sum(), params)
    assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads):
        assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_fits_labels_of_a_small_batch_on_every_device(batch, device):
    torch.manual_seed(0)
    model = MolTransformer(num_tasks=1, hidden=16, layers=2, heads=2, dropout=0.0).to(device)
    batch = batch.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(batch), batch.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(p.device.type == device for p in model.parameters())


def test_all_parameters_get_gradients(batch):
    model = MolTransformer(num_tasks=1, hidden=16, layers=1, heads=2, full_attention=True)
    model(batch).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    sparse = MolTransformer(num_tasks=1, hidden=16, layers=1, heads=2)
    sparse(batch).sum().backward()
    assert all(p.grad is not None for p in sparse.parameters())  # DDP needs no unused ones


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hidden": 30, "heads": 4}, "hidden must be a multiple of heads"),
    ({"layers": 0}, "layers must be an integer >= 1, got 0"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MolTransformer(num_tasks=1, **kwargs)


def test_repr_names_the_settings():
    text = repr(MolTransformer(num_tasks=2, hidden=16, layers=1, heads=2))
    assert text.startswith("MolTransformer(") and "num_tasks=2, hidden=16, layers=1" in text
