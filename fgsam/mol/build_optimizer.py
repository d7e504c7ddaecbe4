"""The optimizer ``fgsam mol`` trains with: any registry or ``torch.optim`` name."""

from __future__ import annotations

from typing import Any

import torch

from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.registry import create_optimizer, get_optimizer_class, list_optimizers


def molecule_optimizers() -> list[str]:
    """Registry names usable for molecules (all but the two-closure, node-level ones)."""
    names = list_optimizers()
    return [n for n in names if get_optimizer_class(n).num_closures == 1]


def build_optimizer(model: torch.nn.Module, name: str, lr: float, weight_decay: float = 0.0,
                    rho: float | None = None, base: str = "adam", sync_ascent: bool = False,
                    **options: Any) -> torch.optim.Optimizer:
    """``create_optimizer(model, name, ...)`` with the settings of a molecule run.

    ``rho``, ``base`` and ``sync_ascent`` apply to sharpness-aware optimizers only
    (``rho=None`` keeps the method's default); ``options`` are the method's (or the
    plain optimizer's) further hyper-parameters. Under DDP pass the wrapped model: it
    becomes the optimizer's ``model=`` (local or synchronised ascent). FGSAM-style
    optimizers, which need a PeerMLP view of a node-level GNN, are refused.

    Example:
        >>> opt = build_optimizer(model, "graphsam", lr=1e-3, rho=0.05)
    """
    cls = get_optimizer_class(name)
    if not issubclass(cls, SharpnessAwareOptimizer):
        return create_optimizer(model, name, lr=lr, weight_decay=weight_decay, **options)
    if cls.num_closures == 2:
        raise ValueError(
            f"optimizer {name!r} is FGSAM-style: its descent runs the PeerMLP view of a "
            f"node-level GNN (two closures), which molecule-level prediction does not have; "
            f"use it with 'fgsam fsnc'. For molecules choose one of "
            f"{', '.join(molecule_optimizers())} or a torch.optim name such as 'adam'")
    if rho is not None:
        options["rho"] = rho
    if sync_ascent:
        options["sync_ascent"] = True
    return create_optimizer(model, name, base=base, lr=lr, weight_decay=weight_decay, **options)


__all__ = ["build_optimizer", "molecule_optimizers"]
