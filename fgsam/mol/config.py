"""The settings of a molecule run (:class:`MolConfig`) and the optimizer they build."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from fgsam._random import derive_seed
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.registry import (
    create_optimizer,
    get_optimizer_class,
    list_optimizers,
    optimizer_arguments,
)


@dataclass
class MolConfig:
    """The settings of ``fgsam mol``: dataset, split, model, optimizers and training.

    Model sizes left ``None`` keep the model's defaults. ``options`` holds further
    hyper-parameters per optimizer name (``{"graphsam": {"beta": 0.9}}``). ``standardize``
    puts regression outputs on the scale of the training labels
    (:class:`~fgsam.mol.model.TargetScaling`). ``average="swad"`` tests the
    :class:`~fgsam.optim.SWAD` weight average (``average_options`` are its arguments)
    instead of the weights of the best validation epoch.

    Example:
        >>> config = MolConfig("ogbg-molbbbp", optimizers=["adam", "sam", "graphsam"])
    """

    dataset: str = "ogbg-molbbbp"
    model: str = "transformer"
    optimizers: list[str] = field(default_factory=lambda: ["graphsam"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    rho: float | None = None
    base: str = "adam"
    sync_ascent: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: int | None = None
    layers: int | None = None
    heads: int | None = None
    dropout: float | None = None
    full_attention: bool = False
    standardize: bool = True
    split: str = "scaffold"
    split_seed: int | None = None
    max_molecules: int | None = None
    root: str | None = None
    cache_dir: str | None = None
    average: str | None = None
    average_options: dict[str, Any] = field(default_factory=dict)

    def model_kwargs(self) -> dict[str, Any]:
        """The model's size arguments (``None`` keeps a default)."""
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads,
                "dropout": self.dropout, "full_attention": self.full_attention or None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MolConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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
    (the ``"optimizer"`` stream of :func:`fgsam._random.derive_seed`): independent
    of the stream that initialises the weights from ``seed`` itself."""
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
    return _create(model, name, base, lr, weight_decay, kwargs)


def _create(model: torch.nn.Module, name: str, base: str, lr: float, weight_decay: float,
            arguments: dict[str, Any]) -> torch.optim.Optimizer:
    # an option named lr or weight_decay (--opt-arg NAME.lr=...) wins over the run's setting
    return create_optimizer(model, name, base=base,
                            **{"lr": lr, "weight_decay": weight_decay, **arguments})


def build_optimizer_and_arguments(model: torch.nn.Module, config: MolConfig, name: str,
                                  total_steps: int, seed: int | None
                                  ) -> tuple[torch.optim.Optimizer, dict[str, Any]]:
    """:func:`build_optimizer` with the settings of ``config`` (and its ``options`` for
    ``name``), plus the arguments it resolved (what a run records).

    Args:
        model (torch.nn.Module): the model to train (under DDP the wrapped one).
        config (MolConfig): the run's settings (``lr``, ``weight_decay``, ``rho``,
            ``base``, ``sync_ascent``, ``options``).
        name (str): the optimizer's name.
        total_steps (int): epochs × batches, for the optimizers with a schedule.
        seed (int, optional): the seed of the optimizer's own draws.

    Example:
        >>> opt, arguments = build_optimizer_and_arguments(model, MolConfig(), "graphsam", 100, 0)
    """
    arguments = molecule_optimizer_arguments(name, config.options.get(name), rho=config.rho,
                                             sync_ascent=config.sync_ascent,
                                             total_steps=total_steps, seed=seed)
    return _create(model, name, config.base, config.lr, config.weight_decay, arguments), arguments


__all__ = [
    "MolConfig",
    "build_optimizer",
    "build_optimizer_and_arguments",
    "check_molecule_optimizer",
    "molecule_optimizer_arguments",
    "molecule_optimizers",
    "optimizer_seed",
]
