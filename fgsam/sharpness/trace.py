"""The Hessian trace of any loss by Hutchinson's estimator."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from fgsam._validate import check_positive_int
from fgsam.sharpness.common import make_generator
from fgsam.sharpness.estimate import Estimate
from fgsam.sharpness.hessian import HessianOperator
from fgsam.typing import Closure


def hessian_trace(
    closure: Closure,
    params: Iterable[Tensor],
    samples: int = 100,
    *,
    generator: int | torch.Generator | None = None,
) -> Estimate:
    r"""The trace of the Hessian :math:`\nabla^2 L(w)` of ``closure`` with respect to
    ``params`` by Hutchinson's estimator (`Hutchinson, 1989
    <https://doi.org/10.1080/03610918908812806>`_) with Rademacher vectors.

    .. math::
        \operatorname{tr} H \approx \frac{1}{m} \sum_{i=1}^{m} z_i^\top H z_i,
        \qquad z_i \in \{-1, +1\}^n \text{ uniform},

    unbiased with variance :math:`2 \sum_{i \ne j} H_{ij}^2 / m`; the returned standard
    error is the sample standard deviation of :math:`z_i^\top H z_i` over
    :math:`\sqrt{m}`. One Hessian–vector product (double backward) per sample. The
    closure is evaluated once, so it should be deterministic (``model.eval()``).
    Weights are not changed.

    Args:
        closure (callable): evaluates the model and returns the loss (no ``backward``).
        params (iterable of Tensor): the parameters, all requiring grad.
        samples (int, optional): number :math:`m \ge 2` of probe vectors.
            (default: ``100``)
        generator (int or torch.Generator, optional): seed or generator of the probes;
            ``None`` is seed ``0``. (default: ``None``)

    Returns:
        :class:`Estimate` with ``value``, ``stderr`` and ``samples``.

    Example:
        >>> est = hessian_trace(closure, model.parameters(), samples=200, generator=1)
        >>> est.value, est.stderr
        (1234.5, 21.7)
    """
    check_positive_int("samples", samples)
    if samples < 2:
        raise ValueError(f"samples must be at least 2 to give a standard error, got {samples}")
    gen = make_generator(generator)
    hessian = HessianOperator(closure, params)
    draws = torch.empty(samples, dtype=torch.float64)
    for i in range(samples):
        z = torch.randint(0, 2, (hessian.numel,), generator=gen, device=gen.device)
        z = z.to(device=hessian.device, dtype=hessian.dtype).mul_(2).sub_(1)
        draws[i] = float(z @ hessian(z))
    return Estimate(
        value=float(draws.mean()),
        stderr=float(draws.std(correction=1)) / math.sqrt(samples),
        samples=samples,
    )


__all__ = ["hessian_trace"]
