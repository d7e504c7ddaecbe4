"""Worst-case and average-case ρ-sharpness of any loss."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from fgsam._validate import check_non_negative, check_positive_int
from fgsam.optim.vectors import global_norm
from fgsam.sharpness.common import (
    check_choice,
    check_params,
    evaluate,
    evaluate_finite,
    gaussian_like,
    make_generator,
    require_finite,
    restored,
    set_weights,
)
from fgsam.sharpness.estimate import Estimate
from fgsam.typing import Closure

#: The ascent stops once its relative step length was halved below this (converged).
MIN_STEP = 1e-6


def rho_sharpness(
    closure: Closure,
    params: Iterable[Tensor],
    rho: float,
    mode: str = "worst",
    *,
    adaptive: bool = False,
    eta: float = 0.01,
    steps: int = 20,
    samples: int = 100,
    generator: int | torch.Generator | None = None,
) -> Estimate:
    r"""Worst-case or average-case :math:`\rho`-sharpness of ``closure`` at the current
    ``params`` (`Foret et al., "Sharpness-Aware Minimization"
    <https://arxiv.org/abs/2010.01412>`_; adaptive as `Kwon et al., "ASAM"
    <https://arxiv.org/abs/2102.11600>`_; measured as in `Andriushchenko et al., "A
    Modern Look at the Relationship between Sharpness and Generalization"
    <https://arxiv.org/abs/2302.07011>`_).

    .. math::
        S_{\max} = \max_{\lVert T^{-1}\delta\rVert \le \rho} L(w + \delta) - L(w),
        \qquad
        S_{\mathrm{avg}} = \mathbb{E}_{z \sim \mathcal{N}(0, \rho^2 I)} L(w + T z) - L(w),

    with :math:`T = \mathrm{diag}(|w| + \eta)` if ``adaptive`` and :math:`T = I`
    otherwise (so :math:`\sigma = \rho`).

    ``mode="worst"`` runs projected gradient ascent on :math:`u = T^{-1}\delta`: it starts
    on the sphere :math:`\lVert u\rVert = \rho` along :math:`T \nabla L(w)` (a random
    direction if that gradient is zero), then ``steps`` times tries
    :math:`u' = \mathrm{Proj}_{\lVert u\rVert\le\rho}(u + a\rho\, T g / \lVert T g\rVert)`,
    :math:`g = \nabla L(w + T u)`, keeping :math:`u'` if the loss rose (and doubling
    :math:`a`, at most 2) or halving :math:`a` (starting at 1) otherwise; it stops early
    when :math:`a < 10^{-6}` or the gradient is zero. The result
    is the best value found (at least 0, as :math:`\delta = 0` is feasible), a lower
    bound on :math:`S_{\max}` (``stderr`` is ``None``,
    ``samples`` the number of loss evaluations). ``mode="average"`` is a Monte-Carlo
    mean over ``samples`` Gaussian draws with its standard error.

    The weights are restored exactly (copied back) afterwards, also on error; ``.grad``
    is not touched. The closure should be deterministic (``model.eval()``).

    Args:
        closure (callable): evaluates the model and returns the loss (no ``backward``).
        params (iterable of Tensor): the parameters to perturb (requiring grad for
            ``"worst"``).
        rho (float): radius :math:`\rho \ge 0` (the noise standard deviation for
            ``"average"``).
        mode (str, optional): ``"worst"`` or ``"average"``. (default: ``"worst"``)
        adaptive (bool, optional): scale by :math:`|w| + \eta`. (default: ``False``)
        eta (float, optional): :math:`\eta \ge 0` of the adaptive scale.
            (default: ``0.01``)
        steps (int, optional): ascent steps for ``"worst"``. (default: ``20``)
        samples (int, optional): draws for ``"average"``, at least 2. (default: ``100``)
        generator (int or torch.Generator, optional): seed or generator of the noise
            (and of the start when the gradient is zero); ``None`` is seed ``0``.
            (default: ``None``)

    Returns:
        :class:`Estimate`.

    Example:
        >>> model.eval()
        >>> worst = rho_sharpness(closure, model.parameters(), rho=0.05)
        >>> avg = rho_sharpness(closure, model.parameters(), rho=0.01, mode="average")
        >>> float(worst), avg.value, avg.stderr
    """
    check_non_negative("rho", rho)
    check_choice("mode", mode, ("worst", "average"))
    check_non_negative("eta", eta)
    check_positive_int("steps", steps)
    check_positive_int("samples", samples)
    if mode == "average" and samples < 2:
        raise ValueError(f"samples must be at least 2 to give a standard error, got {samples}")
    if not callable(closure):
        raise ValueError(f"closure must be callable and return the loss, got {closure!r}")
    params = check_params(params, requires_grad=mode == "worst")
    gen = make_generator(generator)
    with restored(params) as origin:
        scale = [w.abs().add_(eta) for w in origin] if adaptive else None
        if mode == "average":
            return _average(closure, params, origin, scale, rho, samples, gen)
        return _worst(closure, params, origin, scale, rho, steps, gen)


def _loss_and_grad(closure: Closure, params: list[Tensor]) -> tuple[float, list[Tensor]]:
    with torch.enable_grad():
        loss = evaluate(closure)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    return float(loss.detach()), grads


def _times(scale: list[Tensor] | None, xs: list[Tensor]) -> list[Tensor]:
    return xs if scale is None else torch._foreach_mul(xs, scale)


def _worst(
    closure: Closure,
    params: list[Tensor],
    origin: list[Tensor],
    scale: list[Tensor] | None,
    rho: float,
    steps: int,
    gen: torch.Generator,
) -> Estimate:
    base, grad = _loss_and_grad(closure, params)
    require_finite(base)
    direction = _times(scale, grad)
    norm = float(global_norm(direction))
    if norm == 0:
        direction = gaussian_like(origin, gen)
        norm = float(global_norm(direction))
    best_u = torch._foreach_mul(direction, rho / norm)
    set_weights(params, torch._foreach_add(origin, _times(scale, best_u)))
    best, grad = _loss_and_grad(closure, params)
    evaluations, step = 2, 1.0
    for _ in range(steps):
        direction = _times(scale, grad)
        norm = float(global_norm(direction))
        if norm == 0 or rho == 0 or step < MIN_STEP:
            break
        u = torch._foreach_add(best_u, direction, alpha=step * rho / norm)
        u_norm = float(global_norm(u))
        if u_norm > rho:
            torch._foreach_mul_(u, rho / u_norm)
        set_weights(params, torch._foreach_add(origin, _times(scale, u)))
        loss, new_grad = _loss_and_grad(closure, params)
        evaluations += 1
        if loss > best:
            best, best_u, grad, step = loss, u, new_grad, min(2 * step, 2.0)
        else:
            step /= 2
    # delta = 0 is feasible: the maximum is never below L(w).
    return Estimate(value=max(best - base, 0.0), stderr=None, samples=evaluations)


@torch.no_grad()
def _average(
    closure: Closure,
    params: list[Tensor],
    origin: list[Tensor],
    scale: list[Tensor] | None,
    rho: float,
    samples: int,
    gen: torch.Generator,
) -> Estimate:
    base = float(evaluate_finite(closure))
    draws = torch.empty(samples, dtype=torch.float64)
    for i in range(samples):
        noise = _times(scale, gaussian_like(origin, gen, std=rho))
        set_weights(params, torch._foreach_add(origin, noise))
        draws[i] = float(evaluate(closure)) - base
    return Estimate(
        value=float(draws.mean()),
        stderr=float(draws.std(correction=1)) / math.sqrt(samples),
        samples=samples,
    )


__all__ = ["MIN_STEP", "rho_sharpness"]
