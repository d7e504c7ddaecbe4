from __future__ import annotations

import pytest

from fgsam.fewshot.gpn import GPN
from fgsam.fewshot.meta_gnn import MetaGNN
from fgsam.fewshot.method_registry import (
    METHODS,
    create_method,
    default_episodes,
    method_name,
)
from fgsam.fewshot.protonet import ProtoNet
from fgsam.fewshot.tent import TENT


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_and_runs_both_views(name, toy, episode_factory):
    model = create_method(name, toy.num_features, num_classes=7, n_way=3, hidden_channels=8)
    model.reset_parameters(0)
    episode = episode_factory(toy, [0, 2, 5], k=2, q=3)
    for peer in (False, True):
        assert model(toy, episode, peer=peer).shape == (9, 3)
        loss = model.loss(toy, episode, peer=peer)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        model.zero_grad()


def test_names_aliases_and_protocol_episodes():
    assert method_name("GPN") == "gpn"
    assert method_name("maml") == method_name("meta-gnn") == "metagnn"
    assert isinstance(create_method("proto", 5, 4, 2), ProtoNet)
    assert isinstance(create_method("gpn", 5, 4, 2), GPN)
    meta = create_method("metagnn", 5, 4, 3, inner_steps=2)
    assert isinstance(meta, MetaGNN) and meta.n_way == 3 and meta.inner_steps == 2
    tent = create_method("tent", 5, 4, 2)
    assert isinstance(tent, TENT) and tent.num_classes == 4
    assert default_episodes("gpn") == 1000 and default_episodes("maml") == 500


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown method 'gnp'; valid methods: gpn, metagnn"):
        method_name("gnp")
