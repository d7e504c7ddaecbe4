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


def _package_methods() -> set[type]:
    """Every FewShotMethod subclass defined in the fgsam package (imports all its modules)."""
    import importlib
    import pkgutil

    import fgsam.fewshot
    from fgsam.fewshot.method import FewShotMethod

    for info in pkgutil.iter_modules(fgsam.fewshot.__path__):
        importlib.import_module(f"fgsam.fewshot.{info.name}")
    found, todo = set(), [FewShotMethod]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("fgsam."):
                found.add(sub)
    return found


def test_every_method_of_the_package_is_registered_with_its_defaults():
    from fgsam.fewshot.method_registry import ALIASES, DEFAULT_EPISODES, REGISTRY

    assert _package_methods() == set(REGISTRY)
    for cls in REGISTRY:
        assert METHODS[cls.name] is cls
        assert DEFAULT_EPISODES[cls.name] == cls.default_episodes
        assert default_episodes(cls.name) == cls.default_episodes
        assert all(ALIASES[a] == cls.name for a in cls.aliases)


def test_the_registry_holds_exactly_these_methods():
    assert sorted(METHODS) == ["gpn", "metagnn", "protonet", "tent"]


def test_unknown_method_is_one_line_listing_every_valid_name():
    with pytest.raises(ValueError) as err:
        create_method("nope", 5, 4, 2)
    message = str(err.value)
    assert "\n" not in message and message.startswith("unknown method 'nope'; valid methods: ")
    assert all(name in message for name in ("gpn", "metagnn", "protonet", "tent"))
    with pytest.raises(ValueError, match="unknown method"):
        default_episodes("nope")  # not a bare KeyError


def test_every_method_is_built_through_one_constructor_shape():
    for cls in METHODS.values():
        model = cls.create(5, 4, 3, hidden_channels=8, dropout=0.0)
        assert type(model) is cls
