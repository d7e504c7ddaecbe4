"""The seeded random split."""

from __future__ import annotations

import torch

from fgsam.mol.random_split import random_split


def test_same_seed_same_split_and_a_partition_of_the_right_sizes():
    a, b = random_split(1000, seed=7), random_split(1000, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "valid", "test")] == [800, 100, 100]
    assert torch.equal(torch.cat(list(a.values())).sort().values, torch.arange(1000))
    assert not torch.equal(random_split(1000, seed=8)["train"], a["train"])


def test_global_rng_is_left_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    random_split(50, seed=1)
    assert torch.equal(torch.rand(3), expected)
