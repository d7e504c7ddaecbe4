"""Loss landscapes along filter-normalised directions."""

from __future__ import annotations

import json

import pytest
import torch
from torch.testing import assert_close

from fgsam.sharpness import Landscape, loss_landscape

F64 = torch.float64


def convex_quadratic():
    """½ vec(W − W*)ᵀ A vec(W − W*) with A positive definite, evaluated at W = W*."""
    gen = torch.Generator().manual_seed(0)
    b = torch.randn(6, 6, generator=gen, dtype=F64)
    a = b @ b.T + 0.5 * torch.eye(6, dtype=F64)
    centre = torch.randn(2, 3, generator=gen, dtype=F64)
    w = torch.nn.Parameter(centre.clone())

    def loss(x):
        r = (x - centre).reshape(-1)
        return 0.5 * r @ a @ r

    return (lambda: loss(w)), w, loss


def test_two_dimensional_grid_has_its_minimum_at_the_centre():
    closure, w, loss = convex_quadratic()
    land = loss_landscape(closure, [w], steps=21, span=1.0, dims=2, generator=0)
    assert isinstance(land, Landscape) and land.dims == 2
    assert land.values.shape == (21, 21) and bool(torch.isfinite(land.values).all())
    assert divmod(int(land.values.argmin()), 21) == (10, 10)
    assert land.values[10, 10] == 0.0 and land.loss == 0.0
    assert_close(land.coordinates[0], torch.linspace(-1.0, 1.0, 21, dtype=F64))
    # One grid point by hand: values[i, j] = L(w + a_i d1 + b_j d2).
    d1, d2 = land.directions[0][0], land.directions[1][0]
    a_i, b_j = land.coordinates[0][3], land.coordinates[1][17]
    expected = loss(w.detach() + a_i * d1 + b_j * d2)
    assert_close(land.values[3, 17], expected, rtol=1e-12, atol=0)


def test_one_dimensional_line():
    closure, w, _ = convex_quadratic()
    land = loss_landscape(closure, [w], steps=11, span=0.5, dims=1)
    assert land.values.shape == (11,) and int(land.values.argmin()) == 5
    assert bool((land.values[:5].diff() < 0).all()) and bool((land.values[5:].diff() > 0).all())
    assert "Landscape(dims=1, steps=11, span=0.5" in repr(land)
    data = json.loads(json.dumps(land.to_dict()))
    assert data["dims"] == 1 and len(data["values"]) == 11 and data["loss"] == 0.0


def test_given_directions_are_used_as_they_are():
    w = torch.nn.Parameter(torch.zeros(2, 2, dtype=F64))
    unit = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=F64)
    land = loss_landscape(lambda: (w**2).sum(), [w], steps=3, span=2.0, dims=1,
                          directions=[[unit]])
    assert_close(land.values, torch.tensor([4.0, 0.0, 4.0], dtype=F64))


def test_weights_restored_exactly_also_after_an_error():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    before = [p.detach().clone() for p in model.parameters()]
    land = loss_landscape(lambda: model(x).pow(2).mean(), model.parameters(), steps=5)
    assert bool(torch.isfinite(land.values).all())
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    calls = []

    def failing():
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("boom")
        return model(x).pow(2).mean()

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(failing, model.parameters(), steps=5)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_float32_and_same_seed_same_values():
    w = torch.nn.Parameter(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
    a = loss_landscape(lambda: (w**2).sum(), [w], steps=4, generator=9)
    b = loss_landscape(lambda: (w**2).sum(), [w], steps=4, generator=9)
    assert torch.equal(a.values, b.values) and a.directions[0][0].dtype == torch.float32


def test_only_one_dimensional_parameters_need_one_dim_tensor():
    w = torch.nn.Parameter(torch.ones(4))
    with pytest.raises(ValueError, match="one_dim='tensor'"):
        loss_landscape(lambda: (w**2).sum(), [w], steps=3)
    land = loss_landscape(lambda: (w**2).sum(), [w], steps=3, dims=1, one_dim="tensor")
    d = land.directions[0][0]
    assert_close(d.norm(), torch.tensor(2.0))  # ‖w‖
    assert_close(land.values, torch.stack([((w - d) ** 2).sum(), (w**2).sum(),
                                           ((w + d) ** 2).sum()]).detach().double())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 1}, "steps must be at least 2"),
        ({"span": 0.0}, r"span must be in \(0.0, inf\), got 0.0"),
        ({"dims": 3}, "dims must be one of 1, 2, got 3"),
        ({"dims": 1, "directions": [[torch.zeros(3)]]}, "directions.0. must be tensors shaped"),
        ({"dims": 2, "directions": [[torch.zeros(2, 2)]]}, "must hold dims=2 directions, got 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    w = torch.nn.Parameter(torch.ones(2, 2))
    with pytest.raises(ValueError, match=match):
        loss_landscape(lambda: (w**2).sum(), [w], **kwargs)
