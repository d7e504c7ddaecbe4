"""The models ``fgsam mol`` trains, by name."""

from __future__ import annotations

from typing import Any

import torch

from fgsam.nn.models.gin import MolGIN
from fgsam.nn.models.mol_transformer import MolTransformer

#: Model names and their classes.
MODELS: dict[str, type[torch.nn.Module]] = {"transformer": MolTransformer, "gin": MolGIN}


def build_model(name: str, num_tasks: int, **kwargs: Any) -> torch.nn.Module:
    """``MolTransformer`` (``"transformer"``) or ``MolGIN`` (``"gin"``); keyword arguments
    that are ``None`` keep the model's default, and ``heads``/``full_attention`` are
    ignored by GIN.

    Example:
        >>> model = build_model("transformer", 1, hidden=64, layers=3, heads=None)
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name == "gin":
        for transformer_only in ("heads", "full_attention", "max_full_nodes"):
            kwargs.pop(transformer_only, None)
    return MODELS[name](num_tasks, **kwargs)


__all__ = ["MODELS", "build_model"]
