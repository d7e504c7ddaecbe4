"""The stochastic optimizers' own generators: seeding, refusal of bad seeds, persistence."""

from __future__ import annotations

import pytest
import torch

from fgsam.optim import ESAM, RWP
from fgsam.optim.seeding import make_generator


def test_seeds_generators_and_none():
    a, b = make_generator(5), make_generator(5)
    assert torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=b))
    g = torch.Generator().manual_seed(1)
    assert make_generator(g) is g
    torch.manual_seed(11)
    first = torch.randn(3, generator=make_generator(None))
    torch.manual_seed(11)
    assert torch.equal(torch.randn(3, generator=make_generator(None)), first)


@pytest.mark.parametrize("bad", ["0", 1.5, True])
def test_bad_seeds_are_refused(bad):
    with pytest.raises(ValueError, match="generator"):
        make_generator(bad)


def test_global_generator_is_never_drawn_from():
    w = torch.nn.Parameter(torch.ones(4))
    opt = RWP([w], "sgd", generator=0, lr=0.1)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    opt.step(lambda: (w * w).sum())
    assert torch.equal(torch.get_rng_state(), state)


def test_state_dict_without_generator_state_is_refused():
    w = torch.nn.Parameter(torch.ones(4))
    opt = RWP([w], "sgd", generator=0, lr=0.1)
    state = opt.state_dict()
    del state["global_state"]["generator"]
    with pytest.raises(ValueError, match="generator"):
        opt.load_state_dict(state)


def test_draws_and_permutations_come_from_the_optimizer_generator():
    opt = ESAM([torch.nn.Parameter(torch.ones(3))], "sgd", generator=4, lr=0.1)
    twin = torch.Generator().manual_seed(4)
    assert torch.equal(opt.draws(5), torch.rand(5, generator=twin))
    assert torch.equal(opt.permutation(6), torch.randperm(6, generator=twin))
    assert opt.draws(2, torch.device("meta")).device.type == "meta"
