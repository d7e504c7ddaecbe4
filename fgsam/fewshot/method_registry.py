"""The few-shot methods by name, and a factory that builds one for a graph."""

from __future__ import annotations

from typing import Any

from fgsam.fewshot.gpn import GPN
from fgsam.fewshot.meta_gnn import MetaGNN
from fgsam.fewshot.method import FewShotMethod
from fgsam.fewshot.protonet import ProtoNet
from fgsam.fewshot.tent import TENT

#: The registered methods, in the order ``fgsam fsnc --help`` lists them; each carries its
#: ``name``, ``aliases`` and ``default_episodes`` (a new method: its class, added here).
REGISTRY: tuple[type[FewShotMethod], ...] = (GPN, ProtoNet, MetaGNN, TENT)
#: Canonical method names and their classes.
METHODS: dict[str, type[FewShotMethod]] = {cls.name: cls for cls in REGISTRY}
#: Other accepted spellings.
ALIASES: dict[str, str] = {alias: cls.name for cls in REGISTRY for alias in cls.aliases}
#: Training episodes of the FSNC protocol (MAML-style methods train for fewer).
DEFAULT_EPISODES: dict[str, int] = {cls.name: cls.default_episodes for cls in REGISTRY}


def method_name(name: str) -> str:
    """The canonical name of ``name`` (case-insensitive, aliases resolved)."""
    key = str(name).lower()
    key = ALIASES.get(key, key)
    if key not in METHODS:
        valid = ", ".join(sorted(METHODS)) + " (aliases: " + ", ".join(sorted(ALIASES)) + ")"
        raise ValueError(f"unknown method {name!r}; valid methods: {valid}")
    return key


def create_method(name: str, in_channels: int, num_classes: int, n_way: int,
                  hidden_channels: int = 16, dropout: float = 0.2,
                  **kwargs: Any) -> FewShotMethod:
    """Build the method called ``name`` for a graph with ``in_channels`` features and
    ``num_classes`` classes, for ``n_way`` episodes (:meth:`FewShotMethod.create`);
    ``kwargs`` go to its constructor (e.g. ``inner_steps=5`` for MetaGNN).

    Example:
        >>> model = create_method("gpn", data.num_features, int(data.y.max()) + 1, n_way=2)
    """
    return METHODS[method_name(name)].create(in_channels, num_classes, n_way,
                                             hidden_channels=hidden_channels, dropout=dropout,
                                             **kwargs)


def default_episodes(name: str) -> int:
    """Training episodes the FSNC protocol gives ``name`` (1000, or 500 for MAML)."""
    return DEFAULT_EPISODES[method_name(name)]


__all__ = ["ALIASES", "DEFAULT_EPISODES", "METHODS", "REGISTRY", "create_method",
           "default_episodes", "method_name"]
