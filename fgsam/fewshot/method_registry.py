"""The few-shot methods by name, and a factory that builds one for a graph."""

from __future__ import annotations

from typing import Any

from fgsam.fewshot.gpn import GPN
from fgsam.fewshot.meta_gnn import MetaGNN
from fgsam.fewshot.method import FewShotMethod
from fgsam.fewshot.protonet import ProtoNet
from fgsam.fewshot.tent import TENT

#: Canonical method names and their classes.
METHODS: dict[str, type[FewShotMethod]] = {
    "gpn": GPN,
    "protonet": ProtoNet,
    "metagnn": MetaGNN,
    "tent": TENT,
}
#: Other accepted spellings.
ALIASES: dict[str, str] = {"meta-gnn": "metagnn", "maml": "metagnn", "proto": "protonet"}
#: Training episodes of the FSNC protocol (MAML-style methods train for fewer).
DEFAULT_EPISODES: dict[str, int] = {"gpn": 1000, "protonet": 1000, "tent": 1000, "metagnn": 500}


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
    ``num_classes`` classes, for ``n_way`` episodes; ``kwargs`` go to its constructor
    (e.g. ``inner_steps=5`` for MetaGNN).

    Example:
        >>> model = create_method("gpn", data.num_features, int(data.y.max()) + 1, n_way=2)
    """
    key = method_name(name)
    if key == "metagnn":
        kwargs["n_way"] = n_way
    if key == "tent":
        kwargs["num_classes"] = num_classes
    return METHODS[key](in_channels, hidden_channels=hidden_channels, dropout=dropout, **kwargs)


def default_episodes(name: str) -> int:
    """Training episodes the FSNC protocol gives ``name`` (1000, or 500 for MAML)."""
    return DEFAULT_EPISODES[method_name(name)]


__all__ = ["ALIASES", "DEFAULT_EPISODES", "METHODS", "create_method", "default_episodes",
           "method_name"]
