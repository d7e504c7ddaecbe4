"""Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation."""

from __future__ import annotations

import torch
from torch import Tensor

from fgsam.sharpness.power_iteration import MatVec, random_unit, reorthogonalise


def lanczos(
    matvec: MatVec,
    n: int,
    k: int = 1,
    *,
    which: str = "LA",
    iters: int = 100,
    tol: float = 1e-3,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, bool]:
    r"""The ``k`` extreme eigenpairs of a symmetric operator by the Lanczos method
    (`Lanczos, 1950 <https://doi.org/10.6028/jres.045.026>`_) with full
    reorthogonalisation.

    .. math::
        A Q_m = Q_m T_m + \beta_m q_{m+1} e_m^\top, \qquad
        T_m = \mathrm{tridiag}(\beta_{j-1}, \alpha_j, \beta_j),

    the eigenpairs :math:`(\theta_i, s_i)` of the small :math:`T_m` (``torch.linalg.eigh``)
    giving the Ritz pairs :math:`(\theta_i, Q_m s_i)` with residual
    :math:`\lVert A Q_m s_i - \theta_i Q_m s_i \rVert = |\beta_m s_{i,m}|`. Every new
    vector is orthogonalised twice against all previous ones. It stops when the ``k``
    selected Ritz values have a residual :math:`\le` ``tol`` :math:`\cdot \max|\theta|`,
    after ``iters`` vectors, or after ``n`` (then :math:`T_n` is similar to :math:`A` and
    exact). When the Krylov space becomes invariant to within the tolerance
    (:math:`\beta_m \le` ``tol`` :math:`\cdot \max|\theta|`) the iteration restarts from
    a random vector orthogonal to it, until a restart's largest value no longer beats the
    ``k``-th selected one: this finds further copies of repeated eigenvalues and the
    eigenvalues of low-rank operators. Without such a breakdown one start vector sees
    each distinct eigenvalue once (in exact arithmetic); :func:`power_iteration` returns
    repeated eigenvalues in all cases. Memory: ``min(iters, n)`` vectors of length ``n``.

    Args:
        matvec (callable): :math:`v \mapsto A v` on flat vectors of length ``n``.
        n (int): dimension.
        k (int, optional): how many eigenpairs (at most ``iters``). (default: ``1``)
        which (str, optional): ``"LA"`` (largest algebraic) or ``"LM"`` (largest
            magnitude). (default: ``"LA"``)
        iters (int, optional): largest Krylov dimension. (default: ``100``)
        tol (float, optional): relative residual tolerance. (default: ``1e-3``)
        generator (torch.Generator): the random starting vectors.
        dtype (torch.dtype, optional): of the vectors. (default: ``torch.float64``)
        device (torch.device, optional): of the vectors. (default: ``"cpu"``)

    Returns:
        ``(values, vectors, converged)`` as :func:`power_iteration`.
    """
    m = min(iters, n)
    basis = torch.empty(m, n, dtype=dtype, device=device)
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples q_j and q_{j+1}; 0 at a restart
    block_start, converged = 0, False
    q = random_unit(n, generator, dtype, device)
    # beta this small makes the Krylov space invariant to within tol (or to rounding).
    threshold = max(tol, 100 * torch.finfo(dtype).eps)
    for j in range(m):
        basis[j] = q
        w = matvec(q)
        alphas.append(float(q @ w))
        w = reorthogonalise(w, basis[: j + 1])
        beta = float(torch.linalg.vector_norm(w))
        if j + 1 == m:
            converged = m == n or _converged(alphas, betas, beta, block_start, k, which, tol)
            break
        theta, _ = _tridiagonal_eigh(alphas, betas)
        breakdown = beta <= threshold * float(theta.abs().max())
        if not breakdown:
            if j + 1 >= k and _converged(alphas, betas, beta, block_start, k, which, tol):
                converged = True
                break
            betas.append(beta)
            q = w / beta
            continue
        # An invariant subspace, exact: done unless more copies of a top value may hide.
        if j + 1 >= k and block_start > 0 and not _block_beats_kth(
            alphas, betas, block_start, k, which, tol
        ):
            converged = True
            break
        betas.append(0.0)
        block_start = j + 1
        r = random_unit(n, generator, dtype, device)
        r = reorthogonalise(r, basis[: j + 1])
        q = r / torch.linalg.vector_norm(r)
    size = len(alphas)
    theta, s = _tridiagonal_eigh(alphas, betas[: size - 1])
    sel = _select(theta, k, which)
    vectors = basis[:size].T @ s[:, sel].to(dtype=dtype, device=device)
    return theta[sel].to(dtype=dtype, device=device), vectors, converged


def _tridiagonal_eigh(alphas: list[float], betas: list[float]) -> tuple[Tensor, Tensor]:
    """Eigenpairs of the symmetric tridiagonal matrix (in float64, on the CPU)."""
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(t)


def _select(theta: Tensor, k: int, which: str) -> Tensor:
    """Indices of the ``k`` extreme values of ``theta``, in decreasing order."""
    key = theta if which == "LA" else theta.abs()
    return torch.argsort(key, descending=True, stable=True)[:k]


def _converged(
    alphas: list[float], betas: list[float], beta: float, block_start: int, k: int,
    which: str, tol: float,
) -> bool:
    """Whether the selected Ritz pairs, and the current block's extreme one, have a
    residual of at most ``tol`` times the largest Ritz value."""
    theta, s = _tridiagonal_eigh(alphas, betas)
    limit = tol * float(theta.abs().max())
    if bool((beta * s[-1, _select(theta, k, which)].abs() > limit).any()):
        return False
    if block_start == 0:
        return True
    theta_b, s_b = _tridiagonal_eigh(alphas[block_start:], betas[block_start:])
    return bool(beta * s_b[-1, _select(theta_b, 1, which)].abs() <= limit)


def _block_beats_kth(
    alphas: list[float], betas: list[float], block_start: int, k: int, which: str, tol: float
) -> bool:
    """Whether the current block's extreme Ritz value beats the k-th selected one (then
    another copy of it could displace the k-th)."""
    theta, _ = _tridiagonal_eigh(alphas, betas)
    theta_b, _ = _tridiagonal_eigh(alphas[block_start:], betas[block_start:])
    key = (lambda t: t) if which == "LA" else torch.abs
    kth = key(theta[_select(theta, k, which)[-1]])
    best = key(theta_b[_select(theta_b, 1, which)[0]])
    return bool(best > kth + tol * float(theta.abs().max()))


__all__ = ["lanczos"]
