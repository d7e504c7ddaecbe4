"""The Hessian of a loss as a linear operator, applied by double backward."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from fgsam.sharpness.common import check_params, common_dtype, evaluate_finite
from fgsam.typing import Closure


class HessianOperator:
    r"""The Hessian :math:`H = \nabla^2_w L(w)` of ``closure`` at the current ``params``,
    applied to vectors by double backward (`Pearlmutter, 1994
    <https://doi.org/10.1162/neco.1994.6.1.147>`_).

    .. math::
        H v = \nabla_w \big( \nabla_w L(w)^\top v \big).

    The gradient is built once with ``create_graph=True``; each product is one more
    backward pass through it. Vectors are flat: the parameters flattened and
    concatenated in the order of ``params``, on the first parameter's device, in the
    promoted dtype of the parameters. A parameter the loss does not depend on (or only
    linearly) has zero rows and columns.

    Args:
        closure (callable): evaluates the model and returns the loss (no ``backward``).
        params (iterable of Tensor): the parameters to differentiate with respect to;
            all must require grad.

    Example:
        >>> H = HessianOperator(lambda: F.mse_loss(model(x), y), model.parameters())
        >>> v = torch.randn(H.numel)
        >>> curvature = v @ H(v) / (v @ v)
    """

    def __init__(self, closure: Closure, params: Iterable[Tensor]) -> None:
        if not callable(closure):
            raise ValueError(f"closure must be callable and return the loss, got {closure!r}")
        self.params = check_params(params)
        self.dtype = common_dtype(self.params)
        self.device = self.params[0].device
        self.sizes = [p.numel() for p in self.params]
        #: Dimension :math:`n` of the parameter space.
        self.numel = sum(self.sizes)
        with torch.enable_grad():
            loss = evaluate_finite(closure)
            if not loss.requires_grad:
                raise ValueError(
                    "the loss returned by closure does not depend on params (it does not "
                    "require grad); evaluate the model inside the closure"
                )
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        #: The loss at the current weights (detached).
        self.loss = loss.detach()
        # Only gradients that still depend on the weights carry curvature.
        self._curved = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        self._grads = [grads[i] for i in self._curved]
        #: Hessian-vector products computed so far.
        self.calls = 0

    def unflatten(self, vector: Tensor) -> list[Tensor]:
        """Split a flat vector into tensors shaped (and placed) like ``params``."""
        if vector.shape != (self.numel,):
            raise ValueError(
                f"vector must have shape ({self.numel},), the number of parameter entries, "
                f"got {tuple(vector.shape)}"
            )
        pieces = torch.split(vector, self.sizes)
        return [
            piece.reshape(p.shape).to(device=p.device, dtype=p.dtype)
            for piece, p in zip(pieces, self.params)
        ]

    def flatten(self, tensors: list[Tensor | None]) -> Tensor:
        """Concatenate tensors shaped like ``params`` (``None`` is zero) into one vector."""
        return torch.cat(
            [
                (
                    torch.zeros(n, device=self.device, dtype=self.dtype)
                    if t is None
                    else t.reshape(-1).to(device=self.device, dtype=self.dtype)
                )
                for t, n in zip(tensors, self.sizes)
            ]
        )

    def __call__(self, vector: Tensor) -> Tensor:
        """The product :math:`H v` for a flat vector :math:`v`."""
        pieces = self.unflatten(vector)
        out: list[Tensor | None] = [None] * len(self.params)
        if self._grads:
            with torch.enable_grad():
                hv = torch.autograd.grad(
                    self._grads,
                    self.params,
                    grad_outputs=[pieces[i] for i in self._curved],
                    retain_graph=True,
                    allow_unused=True,
                )
            out = [h.detach() if h is not None else None for h in hv]
        self.calls += 1
        return self.flatten(out)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(numel={self.numel}, tensors={len(self.params)}, "
            f"dtype={self.dtype}, device={self.device}, loss={float(self.loss):.6g})"
        )


__all__ = ["HessianOperator"]
