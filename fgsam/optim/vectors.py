"""Vector helpers of the optimizers: tensor lists seen as one vector (global norms, inner
products, scaling, normalising, rejection) and the base-optimizer lookup."""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.optim import Optimizer

#: The ``eps`` of every normalisation :math:`g / (\lVert g \rVert + \mathrm{eps})`.
EPS = 1e-12


def _on_one_device(values: list[Tensor]) -> list[Tensor]:
    device, dtype = values[0].device, values[0].dtype
    if all(v.device == device and v.dtype == dtype for v in values):
        return values  # the usual case: nothing to move or cast
    dtype = functools.reduce(torch.promote_types, (v.dtype for v in values))
    return [v.to(device=device, dtype=dtype) for v in values]


def global_norm(tensors: list[Tensor]) -> Tensor:
    r"""The L2 norm of all ``tensors`` taken as one vector, on the first tensor's device.

    Per-tensor norms are computed where each tensor lives and gathered on one device,
    so parameters spread over several devices still get one global norm. An empty list
    gives ``0``.
    """
    if not tensors:
        return torch.zeros(())
    norms = torch._foreach_norm(tensors)
    if len(norms) == 1:
        return norms[0]
    return torch.linalg.vector_norm(torch.stack(_on_one_device(list(norms))))


def global_dot(xs: list[Tensor], ys: list[Tensor]) -> Tensor:
    r"""The inner product :math:`\langle x, y \rangle` of two tensor lists seen as vectors."""
    if not xs:
        return torch.zeros(())
    dots = [torch.vdot(x.reshape(-1), y.reshape(-1)) for x, y in zip(xs, ys, strict=True)]
    if len(dots) == 1:
        return dots[0]
    return torch.stack(_on_one_device(dots)).sum()


def scaled(xs: list[Tensor], factor: Tensor | float) -> list[Tensor]:
    """``[x * factor for x in xs]`` with ``factor`` moved to each tensor's device."""
    if not xs:
        return []
    if not isinstance(factor, Tensor):
        return torch._foreach_mul(xs, factor)
    if factor.dim() == 0 and all(x.device == factor.device for x in xs):
        return torch._foreach_mul(xs, factor)  # one fused call when nothing has to move
    return [x * factor.to(x.device) for x in xs]


def reject(xs: list[Tensor], unit: list[Tensor]) -> list[Tensor]:
    r"""The part of ``xs`` orthogonal to the unit vector ``unit``.

    :math:`x - \langle x, u\rangle u`, for tensor lists seen as vectors.
    """
    if not xs:
        return []
    return torch._foreach_sub(xs, scaled(unit, global_dot(xs, unit)))


def normalized(xs: list[Tensor]) -> list[Tensor]:
    r""":math:`x / (\lVert x \rVert + \mathrm{eps})` for a tensor list seen as one vector."""
    if not xs:
        return []
    denominator = global_norm(xs) + EPS
    if all(x.device == denominator.device for x in xs):
        return torch._foreach_div(xs, denominator)  # one fused call when nothing has to move
    return [x / denominator.to(x.device) for x in xs]


_BASE_OPTIMIZERS = {
    name.lower(): cls
    for name, cls in vars(torch.optim).items()
    if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer
}


def base_optimizer_names() -> list[str]:
    """Lower-case names of the ``torch.optim`` optimizers usable as base optimizers."""
    return sorted(_BASE_OPTIMIZERS)


def resolve_base_optimizer(base: type[Optimizer] | str) -> type[Optimizer]:
    """A ``torch.optim.Optimizer`` subclass from itself or its case-insensitive name."""
    if isinstance(base, str):
        cls = _BASE_OPTIMIZERS.get(base.lower())
        if cls is None:
            raise ValueError(
                f"base_optimizer {base!r} is not a torch.optim optimizer; valid names: "
                f"{', '.join(base_optimizer_names())}"
            )
        return cls
    if isinstance(base, type) and issubclass(base, Optimizer):
        return base
    raise ValueError(
        f"base_optimizer must be a torch.optim.Optimizer subclass or its name, got {base!r}"
    )


__all__ = [
    "EPS",
    "base_optimizer_names",
    "global_dot",
    "global_norm",
    "normalized",
    "reject",
    "resolve_base_optimizer",
    "scaled",
]
