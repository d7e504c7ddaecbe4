"""Filter-normalised directions (Li et al. 2018)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.sharpness import filter_normalized_direction


def test_every_filter_has_the_norm_of_the_weight_filter():
    conv = torch.nn.Conv2d(3, 4, 3)
    linear = torch.nn.Linear(5, 6)
    with torch.no_grad():
        conv.weight[2].zero_()  # a dead filter
    params = [conv.weight, conv.bias, linear.weight, linear.bias]
    d = filter_normalized_direction(params, generator=0)
    assert [t.shape for t in d] == [p.shape for p in params]
    for w, t in ((conv.weight, d[0]), (linear.weight, d[2])):
        assert_close(t.reshape(t.shape[0], -1).norm(dim=1), w.reshape(w.shape[0], -1).norm(dim=1))
    assert torch.equal(d[0][2], torch.zeros_like(d[0][2]))
    assert not d[0].requires_grad
    # Biases: zero by default, the whole tensor rescaled to the bias norm on request.
    assert torch.equal(d[1], torch.zeros(4)) and torch.equal(d[3], torch.zeros(6))
    d = filter_normalized_direction(params, generator=0, one_dim="tensor")
    assert_close(d[1].norm(), conv.bias.norm())
    assert_close(d[3].norm(), linear.bias.norm())


def test_direction_is_random_but_seeded():
    w = [torch.randn(3, 4)]
    a = filter_normalized_direction(w, generator=1)
    assert torch.equal(a[0], filter_normalized_direction(w, generator=1)[0])
    assert not torch.equal(a[0], filter_normalized_direction(w, generator=2)[0])


def test_bad_one_dim_is_named():
    with pytest.raises(ValueError, match="one_dim must be one of 'zero', 'tensor', got 'keep'"):
        filter_normalized_direction([torch.zeros(2, 2)], one_dim="keep")
