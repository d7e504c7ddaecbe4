"""The optimizer ``fgsam mol`` trains with: any registry or ``torch.optim`` name, or F2M."""

from __future__ import annotations

from typing import Any

import torch

from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.registry import (
    create_optimizer,
    get_optimizer_class,
    list_optimizers,
    optimizer_arguments,
)


def molecule_optimizers() -> list[str]:
    """Registry names (and training procedures, ``f2m``) usable for molecules: all but the
    two-closure, node-level ones."""
    names = list_optimizers(include_procedures=True)
    return [n for n in names if get_optimizer_class(n).num_closures == 1]


def check_molecule_optimizer(name: str) -> None:
    """Refuse FGSAM-style optimizers, which need a PeerMLP view of a node-level GNN."""
    cls = get_optimizer_class(name)
    if issubclass(cls, SharpnessAwareOptimizer) and cls.num_closures == 2:
        raise ValueError(
            f"optimizer {name!r} is FGSAM-style: its descent runs the PeerMLP view of a "
            f"node-level GNN (two closures), which molecule-level prediction does not have; "
            f"use it with 'fgsam fsnc'. For molecules choose one of "
            f"{', '.join(molecule_optimizers())} or a torch.optim name such as 'adam'")


def molecule_optimizer_arguments(name: str, options: dict[str, Any] | None = None, *,
                                 rho: float | None = None, sync_ascent: bool = False,
                                 total_steps: int | None = None,
                                 seed: int | None = None) -> dict[str, Any]:
    """The arguments :func:`build_optimizer` builds ``name`` with
    (:func:`fgsam.optim.optimizer_arguments`; ``options`` win over the settings), after
    refusing FGSAM-style names. ``seed`` becomes ``generator=seed`` for the optimizers
    with random draws of their own (RWP, ESAM, SSAM, tilted SAM, F2M, ...), so that a run
    repeats from its seed; a ``generator`` in ``options`` wins."""
    check_molecule_optimizer(name)
    return optimizer_arguments(name, options, rho=rho, total_steps=total_steps,
                               sync_ascent=sync_ascent, seed=seed)


def optimizer_seed(seed: int) -> int:
    """The seed of a run's optimizer draws, derived from the run's ``seed`` by hashing
    (the ``"optimizer"`` stream of :func:`fgsam.fewshot.sampler.derive_seed`): independent
    of the stream that initialises the weights from ``seed`` itself."""
    from fgsam.fewshot.sampler import derive_seed

    return derive_seed(seed, "optimizer")


def build_optimizer(model: torch.nn.Module, name: str, lr: float, weight_decay: float = 0.0,
                    rho: float | None = None, base: str = "adam", sync_ascent: bool = False,
                    total_steps: int | None = None, seed: int | None = None,
                    **options: Any) -> torch.optim.Optimizer:
    """``create_optimizer(model, name, ...)`` with the settings of a molecule run.

    ``rho``, ``base`` and ``sync_ascent`` apply to sharpness-aware optimizers only
    (``rho=None`` keeps the method's default); ``total_steps`` (epochs × batches) reaches
    the optimizers with a schedule over training (``ae-sam``, ``ssam-d``); ``options``
    are the method's (or the plain optimizer's) further hyper-parameters. ``"f2m"`` is
    F2M's noise-averaged training (molecule runs have no incremental sessions to
    clamp). ``seed`` seeds the draws of stochastic optimizers (see
    :func:`molecule_optimizer_arguments`). Under DDP pass the wrapped model: it becomes
    the optimizer's ``model=`` (local or synchronised ascent). FGSAM-style
    optimizers, which need a PeerMLP view of a node-level GNN, are refused.

    Example:
        >>> opt = build_optimizer(model, "graphsam", lr=1e-3, rho=0.05)
    """
    kwargs = molecule_optimizer_arguments(name, options, rho=rho, sync_ascent=sync_ascent,
                                          total_steps=total_steps, seed=seed)
    return create_optimizer(model, name, base=base, lr=lr, weight_decay=weight_decay, **kwargs)


__all__ = ["build_optimizer", "check_molecule_optimizer", "molecule_optimizer_arguments",
           "molecule_optimizers", "optimizer_seed"]
