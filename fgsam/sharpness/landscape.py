"""Loss landscapes: the loss on a 1-D line or a 2-D plane through the weights."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from fgsam._validate import check_positive_int, check_range
from fgsam.sharpness.common import (
    check_choice,
    check_params,
    evaluate,
    evaluate_finite,
    make_generator,
    restored,
    set_weights,
)
from fgsam.sharpness.directions import filter_normalized_direction
from fgsam.typing import Closure


@dataclass(frozen=True, repr=False)
class Landscape:
    r"""The loss on a grid around the weights :math:`w`, from :func:`loss_landscape`.

    Attributes:
        coordinates (tuple of Tensor): one 1-D float64 tensor of grid positions per
            direction (:math:`a`, then :math:`b`).
        values (Tensor): float64 losses, shape ``(steps,)`` or ``(steps, steps)``, with
            ``values[i, j]`` :math:`= L(w + a_i d_1 + b_j d_2)`.
        loss (float): :math:`L(w)`.
        directions (list of list of Tensor): :math:`d_1` (and :math:`d_2`), each shaped
            like the parameters.
    """

    coordinates: tuple[Tensor, ...]
    values: Tensor
    loss: float
    directions: list[list[Tensor]]

    @property
    def dims(self) -> int:
        """1 (a line) or 2 (a plane)."""
        return len(self.coordinates)

    def to_dict(self) -> dict[str, Any]:
        """Coordinates, values and centre loss as JSON-ready lists and floats."""
        return {
            "dims": self.dims,
            "coordinates": [c.tolist() for c in self.coordinates],
            "values": self.values.tolist(),
            "loss": self.loss,
        }

    def __repr__(self) -> str:
        finite = self.values[torch.isfinite(self.values)]
        low, high = (finite.min(), finite.max()) if finite.numel() else (math.nan, math.nan)
        return (
            f"Landscape(dims={self.dims}, steps={self.values.shape[0]}, "
            f"span={float(self.coordinates[0][-1]):g}, loss={self.loss:.6g}, "
            f"min={float(low):.6g}, max={float(high):.6g})"
        )


def loss_landscape(
    closure: Closure,
    params: Iterable[Tensor],
    steps: int = 21,
    span: float = 1.0,
    dims: int = 2,
    *,
    generator: int | torch.Generator | None = None,
    directions: Sequence[Sequence[Tensor]] | None = None,
    one_dim: str = "zero",
) -> Landscape:
    r"""The loss along one or two filter-normalised random directions through the
    weights, from `Li et al., "Visualizing the Loss Landscape of Neural Nets"
    <https://arxiv.org/abs/1712.09913>`_ (NeurIPS 2018).

    .. math::
        f(a) = L(w + a\, d_1) \quad\text{or}\quad f(a, b) = L(w + a\, d_1 + b\, d_2),
        \qquad a, b \in \{-\mathrm{span}, \dots, \mathrm{span}\},

    on ``steps`` evenly spaced points per axis (odd ``steps`` put :math:`w` at the
    centre). The directions are :func:`filter_normalized_direction` (biases and other
    1-D parameters get ``0`` unless ``one_dim="tensor"``), or ``directions`` if given.
    ``steps ** dims`` loss evaluations without gradients. The weights are restored
    exactly (copied back) afterwards, also on error. The closure should be deterministic
    (``model.eval()``: BatchNorm statistics would otherwise change).

    Args:
        closure (callable): evaluates the model and returns the loss.
        params (iterable of Tensor): the weights to move.
        steps (int, optional): grid points per axis, at least 2. (default: ``21``)
        span (float, optional): the grid covers :math:`[-\mathrm{span}, \mathrm{span}]`,
            in units of the directions. (default: ``1.0``)
        dims (int, optional): 1 (a line) or 2 (a plane). (default: ``2``)
        generator (int or torch.Generator, optional): seed or generator of the random
            directions; ``None`` is seed ``0``. (default: ``None``)
        directions (sequence, optional): ``dims`` directions, each a sequence of tensors
            shaped like ``params``, used as given. (default: ``None``)
        one_dim (str, optional): ``"zero"`` or ``"tensor"``, see
            :func:`filter_normalized_direction`. (default: ``"zero"``)

    Returns:
        :class:`Landscape`.

    Example:
        >>> model.eval()
        >>> land = loss_landscape(closure, model.parameters(), steps=21, span=1.0)
        >>> plot_landscape(land, "landscape.png")
    """
    check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (grid points per axis), got {steps}")
    check_range("span", span, 0.0, float("inf"), low_open=True, high_open=True)
    check_choice("dims", dims, (1, 2))
    if not callable(closure):
        raise ValueError(f"closure must be callable and return the loss, got {closure!r}")
    params = check_params(params, requires_grad=False)
    if directions is None:
        gen = make_generator(generator)
        dirs = [filter_normalized_direction(params, gen, one_dim) for _ in range(dims)]
        if all(bool((t == 0).all()) for t in dirs[0]):
            raise ValueError(
                "the filter-normalised directions are zero (every parameter is 1-D or zero "
                "and one_dim='zero' leaves 1-D parameters unperturbed); pass one_dim='tensor'"
            )
    else:
        dirs = _check_directions(directions, params, dims)
    # Symmetric by construction, with an exact 0 at the centre for odd steps.
    coords = torch.arange(steps, dtype=torch.float64).mul(2).sub(steps - 1).mul(span / (steps - 1))
    with restored(params) as origin, torch.no_grad():
        loss = float(evaluate_finite(closure))
        values = torch.empty((steps,) * dims, dtype=torch.float64)
        for index in itertools.product(range(steps), repeat=dims):
            point = [t.clone() for t in origin]
            for d, i in zip(dirs, index):
                torch._foreach_add_(point, d, alpha=float(coords[i]))
            set_weights(params, point)
            values[index] = float(evaluate(closure))
    return Landscape(tuple(coords.clone() for _ in range(dims)), values, loss, dirs)


def _check_directions(
    directions: Sequence[Sequence[Tensor]], params: list[Tensor], dims: int
) -> list[list[Tensor]]:
    if len(directions) != dims:
        raise ValueError(f"directions must hold dims={dims} directions, got {len(directions)}")
    out = []
    for n, direction in enumerate(directions):
        direction = list(direction)
        shapes = [tuple(t.shape) if isinstance(t, Tensor) else None for t in direction]
        expected = [tuple(p.shape) for p in params]
        if shapes != expected:
            raise ValueError(
                f"directions[{n}] must be tensors shaped like params {expected}, got {shapes}"
            )
        out.append(
            [t.detach().to(device=p.device, dtype=p.dtype) for t, p in zip(direction, params)]
        )
    return out


__all__ = ["Landscape", "loss_landscape"]
