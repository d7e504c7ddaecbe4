"""The optimizer registry: one list of classes and a thin factory over it."""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.ae_sam import AESAM
from fgsam.optim.asam import ASAM
from fgsam.optim.base import SharpnessAwareOptimizer, check_non_negative
from fgsam.optim.esam import ESAM
from fgsam.optim.f2m import F2M
from fgsam.optim.fgsam import FGSAM
from fgsam.optim.fgsam_plus import FGSAMPlus
from fgsam.optim.fgsam_rho0 import FGSAMRho0
from fgsam.optim.friendly_sam import FriendlySAM
from fgsam.optim.graphsam import GraphSAM
from fgsam.optim.gsam import GSAM
from fgsam.optim.looksam import LookSAM
from fgsam.optim.momentum_sam import MomentumSAM
from fgsam.optim.peer_ascent_sam import PeerAscentSAM
from fgsam.optim.rwp import RWP
from fgsam.optim.sam import SAM
from fgsam.optim.ssam import SSAMD, SSAMF
from fgsam.optim.tilted_sam import TiltedSAM
from fgsam.optim.vasso import VaSSO
from fgsam.optim.vectors import base_optimizer_names, resolve_base_optimizer
from fgsam.optim.zo_tilted_sam import ZerothOrderTiltedSAM

#: Every sharpness-aware optimizer, in the order the documentation lists them.
OPTIMIZERS: list[type[SharpnessAwareOptimizer]] = [
    SAM,
    ASAM,
    FGSAM,
    FGSAMPlus,
    GraphSAM,
    SSAMF,
    SSAMD,
    VaSSO,
    LookSAM,
    ESAM,
    AESAM,
    FriendlySAM,
    MomentumSAM,
    GSAM,
    RWP,
    TiltedSAM,
    ZerothOrderTiltedSAM,
    FGSAMRho0,
    PeerAscentSAM,
]

#: Training procedures built like optimizers (by name, in :func:`create_optimizer` and the
#: training commands) but not optimizers of the registry: F2M's noise-averaged training.
PROCEDURES: list[type[SharpnessAwareOptimizer]] = [F2M]


#: Deprecated registry names and the names they resolve to (``fsam`` is usually Fisher SAM).
ALIASES: dict[str, str] = {"fsam": "friendly-sam"}


def canonical_name(name: str) -> str:
    """``name`` in lower case, a deprecated alias (:data:`ALIASES`) replaced by its
    registry name with a ``DeprecationWarning``.

    Example:
        >>> canonical_name("SAM")
        'sam'
    """
    key = str(name).lower()
    if key in ALIASES:
        warnings.warn(f"optimizer name {key!r} is deprecated; use {ALIASES[key]!r}",
                      DeprecationWarning, stacklevel=3)
        return ALIASES[key]
    return key


def _table(procedures: bool = True) -> dict[str, type[SharpnessAwareOptimizer]]:
    return {cls.name: cls for cls in OPTIMIZERS + (PROCEDURES if procedures else [])}


def list_optimizers(pattern: str = "*", include_base: bool = False,
                    include_procedures: bool = False) -> list[str]:
    """Registered optimizer names matching the shell-style ``pattern``, sorted.

    ``include_base=True`` adds the plain ``torch.optim`` names (``"adam"``, ``"sgd"``, ...)
    and ``include_procedures=True`` the training procedures (``"f2m"``) that
    :func:`create_optimizer` also accepts.
    """
    names = list(_table(include_procedures)) + (base_optimizer_names() if include_base else [])
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern.lower()))


def get_optimizer_class(name: str) -> type[Optimizer]:
    """The class registered as ``name``, the training procedure of that name (``"f2m"``),
    or the plain ``torch.optim`` class of that name (deprecated aliases accepted)."""
    key = canonical_name(name)
    table = _table()
    if key in table:
        return table[key]
    if key in base_optimizer_names():
        return resolve_base_optimizer(key)
    raise ValueError(
        f"unknown optimizer {name!r}; sharpness-aware: {', '.join(list_optimizers())}; "
        f"training procedures: {', '.join(c.name for c in PROCEDURES)}; "
        f"plain: {', '.join(base_optimizer_names())}"
    )


def default_rho(name: str) -> float | None:
    """The radius ``rho`` that the optimizer ``name`` has by default (its own meaning:
    a perturbation radius, m-RWP's noise scale σ, ZO-TSAM's step μ, F2M's bound δ), or
    ``None`` for plain ``torch.optim`` optimizers, which have none."""
    cls = get_optimizer_class(name)
    if not issubclass(cls, SharpnessAwareOptimizer):
        return None
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            param = inspect.signature(klass.__init__).parameters.get("rho")
            if param is not None and param.default is not param.empty:
                return float(param.default)
    raise AssertionError(f"{cls.__name__} has no default rho")  # the base class has one


def optimizer_arguments(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    rho: float | None = None,
    total_steps: int | None = None,
    sync_ascent: bool = False,
    seed: int | None = None,
) -> dict[str, Any]:
    """The keyword arguments the optimizer ``name`` is built with from a training run's
    settings (what :func:`create_optimizer` passes on, and what the training commands
    record); the base optimizer's ``lr``, ``weight_decay`` ... are not among them.

    Args:
        name (str): a registry, training-procedure or ``torch.optim`` name.
        options (dict, optional): the method's own hyper-parameters, passed as given;
            they win over the settings below (``{"rho": 0.2}`` beats ``rho=``).
        rho (float, optional): the radius of sharpness-aware optimizers; ``None`` gives
            each one its own default (:func:`default_rho`, stated explicitly). Plain
            ``torch.optim`` optimizers have no radius and get none. (default: ``None``)
        total_steps (int, optional): how many steps the run takes at most, for the
            optimizers with a schedule over training (``ae-sam``, ``ssam-d``); the others
            do not take it. (default: ``None``)
        sync_ascent (bool, optional): all-reduce the ascent gradient under DDP
            (sharpness-aware optimizers only; plain ones have no ascent).
            (default: ``False``)
        seed (int, optional): the seed of the optimizer's own random draws, passed as
            ``generator=seed`` to the optimizers that take a ``generator``
            (:func:`takes_generator`) unless ``options`` set one; the others ignore it.
            ``None`` leaves them to seed from ``torch.initial_seed()``, which differs
            from process to process unless the run calls ``torch.manual_seed``.
            (default: ``None``)

    Example:
        >>> optimizer_arguments("msam")
        {'rho': 0.3}
        >>> optimizer_arguments("ae-sam", {"delta": 0.8}, rho=0.1, total_steps=1000)
        {'rho': 0.1, 'total_steps': 1000, 'delta': 0.8}
        >>> optimizer_arguments("rwp", seed=3)
        {'rho': 0.01, 'generator': 3}
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    name = canonical_name(name)
    cls = get_optimizer_class(name)
    accepted = _arguments(cls)
    out: dict[str, Any] = {}
    if issubclass(cls, SharpnessAwareOptimizer):
        # a radius that is part of the optimizer's definition (fgsam-rho0) is not the run's
        fixed = cls.fixed_rho
        if rho is not None:
            check_non_negative("rho", rho)
        out["rho"] = fixed if fixed is not None else default_rho(name) if rho is None else rho
    if total_steps is not None and "total_steps" in accepted:
        out["total_steps"] = total_steps
    if sync_ascent and "sync_ascent" in accepted:
        out["sync_ascent"] = True
    out |= dict(options or {})
    if seed is not None and "generator" in accepted and out.get("generator") is None:
        out["generator"] = seed
    return out


def param_groups(
    model_or_params: torch.nn.Module | Iterable[Tensor] | Iterable[dict[str, Any]],
    no_decay_1d: bool = False,
) -> list[Tensor] | list[dict[str, Any]]:
    """The parameters to optimise; with ``no_decay_1d`` biases and other 1-D parameters
    go to a second group with ``weight_decay=0``."""
    if isinstance(model_or_params, torch.nn.Module):
        params: list[Any] = [p for p in model_or_params.parameters() if p.requires_grad]
    else:
        params = list(model_or_params)
    if not no_decay_1d:
        return params
    if params and isinstance(params[0], dict):
        raise ValueError("no_decay_1d=True needs a model or plain parameters, not parameter groups")
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = ({"params": decay}, {"params": no_decay, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


def create_optimizer(
    model_or_params: torch.nn.Module | Iterable[Tensor] | Iterable[dict[str, Any]],
    name: str,
    base: type[Optimizer] | str = "adam",
    *,
    no_decay_1d: bool = False,
    rho: float | None = None,
    total_steps: int | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> Optimizer:
    """Build the optimizer registered as ``name`` around the base optimizer ``base``.

    ``kwargs`` mix the method's hyper-parameters and the base optimizer's (``lr``,
    ``weight_decay``, ...). ``rho=None`` gives a sharpness-aware optimizer its own default
    radius; ``total_steps`` (the run's length) reaches the optimizers with a schedule over
    training and no others; ``seed`` (default ``None``) becomes ``generator=seed`` of the
    stochastic optimizers (:func:`takes_generator`) unless ``kwargs`` give a
    ``generator``, and is ignored by the others, so that a run is reproducible without
    ``torch.manual_seed`` (see :func:`optimizer_arguments`). Given a model,
    sharpness-aware optimizers receive it as ``model=`` (BatchNorm and DDP handling). A
    plain ``torch.optim`` name (``"adam"``) returns that optimizer itself, ignoring
    ``base`` and ``rho``. The training procedure ``"f2m"`` (:class:`~fgsam.optim.F2M`) is
    built by name too.

    Example:
        >>> opt = create_optimizer(model, "sam", base="sgd", rho=0.05, lr=0.1)
        >>> opt = create_optimizer(model, "ae-sam", total_steps=1000, lr=1e-3)
        >>> opt = create_optimizer(model, "rwp", seed=0, lr=0.1)  # RWP(..., generator=0)
    """
    name = canonical_name(name)
    cls = get_optimizer_class(name)
    if "lr" in kwargs:
        check_non_negative("lr", kwargs["lr"])
    kwargs = optimizer_arguments(name, kwargs, rho=rho, total_steps=total_steps, seed=seed)
    params = param_groups(model_or_params, no_decay_1d)
    if not issubclass(cls, SharpnessAwareOptimizer):
        return cls(params, **kwargs)
    if isinstance(model_or_params, torch.nn.Module) and "model" in _arguments(cls):
        kwargs.setdefault("model", model_or_params)
    return cls(params, base, **kwargs)


def accepted_arguments(name: str, base: type[Optimizer] | str = "adam") -> set[str]:
    """The keyword arguments the optimizer ``name`` takes: its own, plus those of its base
    optimizer ``base`` for sharpness-aware optimizers and training procedures."""
    cls = get_optimizer_class(name)
    names = _arguments(cls)
    if issubclass(cls, SharpnessAwareOptimizer):
        names |= _arguments(resolve_base_optimizer(base))
    return names - {"self", "params"}


def takes_generator(name: str) -> bool:
    """Whether the optimizer ``name`` (registry, training procedure or ``torch.optim``
    name) takes a ``generator``, i.e. draws random numbers of its own and receives the
    ``seed`` of :func:`optimizer_arguments` and :func:`create_optimizer`.

    Example:
        >>> takes_generator("rwp"), takes_generator("sam"), takes_generator("adam")
        (True, False, False)
    """
    return "generator" in _arguments(get_optimizer_class(name))


def _arguments(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        sig = inspect.signature(klass.__init__)
        names |= {n for n, p in sig.parameters.items() if p.kind is not p.VAR_KEYWORD}
        if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            break
    return names


__all__ = [
    "ALIASES",
    "OPTIMIZERS",
    "PROCEDURES",
    "accepted_arguments",
    "canonical_name",
    "create_optimizer",
    "default_rho",
    "get_optimizer_class",
    "list_optimizers",
    "optimizer_arguments",
    "param_groups",
    "takes_generator",
]
