"""Extreme eigenpairs of a symmetric operator by power iteration with deflation."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

#: A symmetric linear operator on flat vectors, e.g. a :class:`HessianOperator`.
MatVec = Callable[[Tensor], Tensor]


def random_unit(
    n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """A Gaussian vector of norm 1, drawn on the generator's device, moved to ``device``."""
    v = torch.randn(n, generator=generator, device=generator.device, dtype=dtype).to(device)
    return v / torch.linalg.vector_norm(v)


def project_out(v: Tensor, basis: Tensor | None) -> Tensor:
    """``v`` minus its components along the orthonormal rows of ``basis``."""
    if basis is None or basis.shape[0] == 0:
        return v
    return v - basis.T @ (basis @ v)


def reorthogonalise(v: Tensor, basis: Tensor | None) -> Tensor:
    """:func:`project_out` twice: after heavy cancellation one pass leaves rounding errors
    of order ``eps * cond`` along the basis."""
    return project_out(project_out(v, basis), basis)


def power_iteration(
    matvec: MatVec,
    n: int,
    k: int = 1,
    *,
    which: str = "LA",
    iters: int = 200,
    tol: float = 1e-3,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, bool]:
    r"""The ``k`` extreme eigenpairs of a symmetric operator by power iteration with
    (projection) deflation, `von Mises & Pollaczek-Geiringer, 1929
    <https://doi.org/10.1002/zamm.19290090105>`_.

    .. math::
        v \leftarrow \frac{P (A - s I) P v}{\lVert P (A - s I) P v \rVert},
        \qquad \lambda = v^\top (A - s I) v + s,

    :math:`P` projecting out the eigenvectors found so far. With ``which="LM"``
    (largest magnitude) :math:`s = 0`. With ``which="LA"`` (largest algebraic value)
    :math:`s = 0` until the dominant eigenvalue left is negative; it is then the smallest,
    and :math:`s` becomes it, so that the algebraically largest dominates. An
    eigenvalue is accepted once :math:`\lVert A v - \lambda v \rVert \le`
    ``tol`` :math:`\cdot \max|\lambda|` (its error is then of order
    ``tol``:math:`^2` times the scale over the spectral gap).

    Args:
        matvec (callable): :math:`v \mapsto A v` on flat vectors of length ``n``.
        n (int): dimension.
        k (int, optional): how many eigenpairs. (default: ``1``)
        which (str, optional): ``"LA"`` or ``"LM"``. (default: ``"LA"``)
        iters (int, optional): iterations per eigenvalue at most. (default: ``200``)
        tol (float, optional): relative residual tolerance. (default: ``1e-3``)
        generator (torch.Generator): the random starting vectors.
        dtype (torch.dtype, optional): of the vectors. (default: ``torch.float64``)
        device (torch.device, optional): of the vectors. (default: ``"cpu"``)

    Returns:
        ``(values, vectors, converged)``: values sorted decreasingly (by value for
        ``"LA"``, by magnitude for ``"LM"``), the unit eigenvectors as the columns of an
        ``(n, k)`` tensor, and whether every eigenvalue met ``tol`` within ``iters``.
    """
    values: list[float] = []
    basis = torch.empty(0, n, dtype=dtype, device=device)
    shift, all_converged = 0.0, True
    for _ in range(k):
        scale = max([abs(v) for v in values] + [abs(shift)], default=0.0)
        theta, u, converged = _dominant(matvec, n, basis, shift, scale, iters, tol, generator)
        if which == "LA" and shift == 0.0 and theta < 0:
            # The dominant eigenvalue left is the smallest one: shift the spectrum by it.
            shift = theta
            scale = max(scale, abs(theta))
            theta, u, converged = _dominant(matvec, n, basis, shift, scale, iters, tol, generator)
        all_converged &= converged
        values.append(theta + shift)
        basis = torch.cat([basis, u.unsqueeze(0)])
    vals = torch.tensor(values, dtype=torch.float64)
    order = torch.argsort(vals if which == "LA" else vals.abs(), descending=True, stable=True)
    return vals[order].to(dtype=dtype, device=device), basis[order.to(device)].T, all_converged


def _dominant(
    matvec: MatVec,
    n: int,
    basis: Tensor,
    shift: float,
    scale: float,
    iters: int,
    tol: float,
    generator: torch.Generator,
) -> tuple[float, Tensor, bool]:
    """The dominant eigenpair of ``P (A - shift I) P`` and whether it converged."""
    v = reorthogonalise(random_unit(n, generator, basis.dtype, basis.device), basis)
    v = v / torch.linalg.vector_norm(v)
    theta = 0.0
    for _ in range(iters):
        w = reorthogonalise(matvec(v) - shift * v, basis)
        theta = float(v @ w)
        residual = float(torch.linalg.vector_norm(w - theta * v))
        if residual <= tol * max(scale, abs(theta)):
            return theta, v, True
        v = w / torch.linalg.vector_norm(w)
    return theta, v, False


def warn_not_converged(method: str, iters: int, tol: float) -> None:
    """Warn that an eigenvalue iteration stopped at ``iters`` before reaching ``tol``."""
    warnings.warn(
        f"{method} did not reach the relative residual tol={tol} within iters={iters}; the "
        f"eigenvalues are approximate: raise iters (or tol)",
        RuntimeWarning,
        stacklevel=3,
    )


__all__ = ["MatVec", "power_iteration", "project_out", "random_unit", "reorthogonalise",
           "warn_not_converged"]
