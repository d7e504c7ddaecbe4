"""The optimizer registry: one list of classes and a thin factory over it."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.ae_sam import AESAM
from fgsam.optim.asam import ASAM
from fgsam.optim.base import SharpnessAwareOptimizer, check_non_negative
from fgsam.optim.esam import ESAM
from fgsam.optim.fgsam import FGSAM
from fgsam.optim.fgsam_plus import FGSAMPlus
from fgsam.optim.friendly_sam import FriendlySAM
from fgsam.optim.functional import base_optimizer_names, resolve_base_optimizer
from fgsam.optim.graphsam import GraphSAM
from fgsam.optim.gsam import GSAM
from fgsam.optim.looksam import LookSAM
from fgsam.optim.momentum_sam import MomentumSAM
from fgsam.optim.rwp import RWP
from fgsam.optim.sam import SAM
from fgsam.optim.ssam import SSAMD, SSAMF
from fgsam.optim.tilted_sam import TiltedSAM
from fgsam.optim.vasso import VaSSO
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
]


def _table() -> dict[str, type[SharpnessAwareOptimizer]]:
    return {cls.name: cls for cls in OPTIMIZERS}


def list_optimizers(pattern: str = "*", include_base: bool = False) -> list[str]:
    """Registered optimizer names matching the shell-style ``pattern``, sorted.

    ``include_base=True`` adds the plain ``torch.optim`` names (``"adam"``, ``"sgd"``, ...)
    that :func:`create_optimizer` also accepts.
    """
    names = list(_table()) + (base_optimizer_names() if include_base else [])
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern.lower()))


def get_optimizer_class(name: str) -> type[Optimizer]:
    """The class registered as ``name`` (or the plain ``torch.optim`` class of that name)."""
    key = name.lower()
    table = _table()
    if key in table:
        return table[key]
    if key in base_optimizer_names():
        return resolve_base_optimizer(key)
    raise ValueError(
        f"unknown optimizer {name!r}; sharpness-aware: {', '.join(sorted(table))}; "
        f"plain: {', '.join(base_optimizer_names())}"
    )


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
    **kwargs: Any,
) -> Optimizer:
    """Build the optimizer registered as ``name`` around the base optimizer ``base``.

    ``kwargs`` mix the method's hyper-parameters and the base optimizer's (``lr``,
    ``weight_decay``, ...). Given a model, sharpness-aware optimizers receive it as
    ``model=`` (BatchNorm and DDP handling). A plain ``torch.optim`` name (``"adam"``)
    returns that optimizer itself, ignoring ``base``.

    Example:
        >>> opt = create_optimizer(model, "sam", base="sgd", rho=0.05, lr=0.1)
    """
    cls = get_optimizer_class(name)
    if "lr" in kwargs:
        check_non_negative("lr", kwargs["lr"])
    params = param_groups(model_or_params, no_decay_1d)
    if not issubclass(cls, SharpnessAwareOptimizer):
        return cls(params, **kwargs)
    if isinstance(model_or_params, torch.nn.Module) and "model" in _arguments(cls):
        kwargs.setdefault("model", model_or_params)
    return cls(params, base, **kwargs)


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
    "OPTIMIZERS",
    "create_optimizer",
    "get_optimizer_class",
    "list_optimizers",
    "param_groups",
]
