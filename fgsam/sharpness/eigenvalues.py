"""Top Hessian eigenvalues of any loss, by power iteration or Lanczos."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from fgsam._validate import check_positive_int, check_range
from fgsam.sharpness.common import check_choice, make_generator
from fgsam.sharpness.hessian import HessianOperator
from fgsam.sharpness.lanczos import lanczos
from fgsam.sharpness.power_iteration import power_iteration, warn_not_converged
from fgsam.typing import Closure

#: Default ``iters`` per method: iterations per eigenvalue (power), Krylov dimension (Lanczos).
DEFAULT_ITERS = {"power": 200, "lanczos": 100}


def hessian_eigenvalues(
    closure: Closure,
    params: Iterable[Tensor],
    k: int = 1,
    method: str = "power",
    *,
    which: str = "LA",
    iters: int | None = None,
    tol: float = 1e-3,
    generator: int | torch.Generator | None = None,
    eigenvectors: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""The top-``k`` eigenvalues of the Hessian :math:`\nabla^2 L(w)` of ``closure`` with
    respect to ``params``, by power iteration with deflation (`Yao et al., "PyHessian"
    <https://arxiv.org/abs/1912.07145>`_) or by Lanczos with full reorthogonalisation.

    .. math::
        H v = \nabla_w\big(\nabla_w L(w)^\top v\big), \qquad
        \lambda_1 \ge \lambda_2 \ge \dots \ge \lambda_k,

    Hessian–vector products by double backward (:class:`HessianOperator`). With
    ``which="LA"`` the eigenvalues are the algebraically largest, sorted by value
    (:math:`\lambda_1 = \lambda_{\max}`, the sharpness); with ``which="LM"`` the largest
    in magnitude, sorted by magnitude (negative curvature included). An eigenvalue is
    accepted when its residual :math:`\lVert H v - \lambda v\rVert` is at most ``tol``
    times the largest :math:`|\lambda|` seen; a :class:`RuntimeWarning` says when
    ``iters`` ran out first. Exactly repeated eigenvalues are returned repeatedly.
    The closure is evaluated once, so it should be deterministic (model in ``eval()``
    mode, or dropout off). Weights are not changed.

    Args:
        closure (callable): evaluates the model and returns the loss (no ``backward``).
        params (iterable of Tensor): the parameters, all requiring grad.
        k (int, optional): how many eigenvalues, ``1 <= k <=`` number of entries.
            (default: ``1``)
        method (str, optional): ``"power"`` or ``"lanczos"``. (default: ``"power"``)
        which (str, optional): ``"LA"`` (largest algebraic) or ``"LM"`` (largest
            magnitude). (default: ``"LA"``)
        iters (int, optional): power: iterations per eigenvalue; Lanczos: the largest
            Krylov dimension (memory: ``iters`` vectors of the parameters' size).
            (default: ``200`` for power, ``100`` for Lanczos)
        tol (float, optional): relative residual tolerance. (default: ``1e-3``)
        generator (int or torch.Generator, optional): seed or generator of the random
            starting vectors; ``None`` is seed ``0``. (default: ``None``)
        eigenvectors (bool, optional): also return the eigenvectors. (default: ``False``)

    Returns:
        The eigenvalues, a tensor of shape ``(k,)`` in the parameters' dtype and on their
        device; with ``eigenvectors=True`` the pair ``(values, vectors)``, ``vectors`` of
        shape ``(n, k)`` holding unit eigenvectors as columns, each the parameters
        flattened and concatenated in the order of ``params``
        (:meth:`HessianOperator.unflatten` splits one back).

    Example:
        >>> model.eval()
        >>> closure = lambda: F.cross_entropy(model(data.x, data.edge_index), data.y)
        >>> hessian_eigenvalues(closure, model.parameters(), k=3, method="lanczos")
        tensor([41.2, 17.9, 9.3])
    """
    check_choice("method", method, ("power", "lanczos"))
    check_choice("which", which, ("LA", "LM"))
    check_positive_int("k", k)
    if iters is None:
        iters = DEFAULT_ITERS[method]
    check_positive_int("iters", iters)
    check_range("tol", tol, 0.0, float("inf"), low_open=True, high_open=True)
    gen = make_generator(generator)
    hessian = HessianOperator(closure, params)
    if k > hessian.numel:
        raise ValueError(
            f"k must be at most the number of parameter entries ({hessian.numel}), got {k}"
        )
    if method == "lanczos" and k > iters:
        raise ValueError(f"iters must be at least k={k} for method='lanczos', got {iters}")
    solver = power_iteration if method == "power" else lanczos
    values, vectors, converged = solver(
        hessian,
        hessian.numel,
        k,
        which=which,
        iters=iters,
        tol=tol,
        generator=gen,
        dtype=hessian.dtype,
        device=hessian.device,
    )
    if not converged:
        warn_not_converged(f"hessian_eigenvalues(method={method!r})", iters, tol)
    return (values, vectors) if eigenvectors else values


__all__ = ["DEFAULT_ITERS", "hessian_eigenvalues"]
