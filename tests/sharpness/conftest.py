"""Exact test problems for the sharpness measures (docs/algorithms.md §5), in float64.

Each problem is a closure, its parameters and the exact Hessian spectrum computed
independently of :mod:`fgsam.sharpness`: ``eigh`` of the known matrix for a quadratic,
``JᵀJ`` with the Jacobian built explicitly for deep matrix factorisation at a global
minimiser (zero residual), and the closed form for the scalar chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import pytest
import torch
from torch import Tensor

F64 = torch.float64


@dataclass
class Problem:
    closure: object
    params: list[Tensor]
    eigenvalues: Tensor  # the whole spectrum, decreasing
    trace: float


def quadratic(n: int = 10, seed: int = 0) -> Problem:
    """½ wᵀAw with a random symmetric (indefinite) A, at w = 0."""
    gen = torch.Generator().manual_seed(seed)
    b = torch.randn(n, n, generator=gen, dtype=F64)
    a = (b + b.T) / 2
    w = torch.zeros(n, dtype=F64, requires_grad=True)
    return Problem(
        lambda: 0.5 * w @ a @ w,
        [w],
        torch.linalg.eigvalsh(a).flip(0),
        float(torch.diagonal(a).sum()),
    )


def product(weights: list[Tensor]) -> Tensor:
    """W_L ⋯ W_1 for weights = [W_1, ..., W_L]."""
    return reduce(lambda acc, w: w @ acc, weights[1:], weights[0])


def deep_matrix_factorisation(dims: list[int], seed: int = 0) -> Problem:
    """½‖W_L ⋯ W_1 − M‖² at random W_i with M = W_L ⋯ W_1, so the residual is zero.

    W_i has shape (dims[i], dims[i-1]). At zero residual the Hessian is JᵀJ, J the
    Jacobian of vec(W_L ⋯ W_1) with respect to all weights, built here explicitly.
    """
    gen = torch.Generator().manual_seed(seed)
    weights = [
        torch.randn(dims[i + 1], dims[i], generator=gen, dtype=F64).requires_grad_()
        for i in range(len(dims) - 1)
    ]
    target = product([w.detach() for w in weights])
    blocks = torch.autograd.functional.jacobian(
        lambda *ws: product(list(ws)).reshape(-1), tuple(w.detach() for w in weights)
    )
    jac = torch.cat([b.reshape(target.numel(), -1) for b in blocks], dim=1)
    n = jac.shape[1]
    singular = torch.linalg.svdvals(jac)
    spectrum = torch.zeros(n, dtype=F64)
    spectrum[: singular.numel()] = singular**2
    return Problem(
        lambda: 0.5 * ((product(weights) - target) ** 2).sum(),
        weights,
        spectrum,
        float((jac**2).sum()),
    )


def scalar_chain(values: list[float]) -> Problem:
    """½(∏ w_i − m)² with m = ∏ w_i: one eigenvalue Σ_i ∏_{j≠i} w_j², the rest 0."""
    ws = [torch.tensor(v, dtype=F64, requires_grad=True) for v in values]
    m = math.prod(values)
    top = sum(math.prod(v * v for j, v in enumerate(values) if j != i) for i in range(len(values)))
    spectrum = torch.zeros(len(values), dtype=F64)
    spectrum[0] = top
    return Problem(lambda: 0.5 * (reduce(torch.mul, ws) - m) ** 2, ws, spectrum, top)


PROBLEMS = {
    "quadratic": lambda: quadratic(),
    "mf-depth2": lambda: deep_matrix_factorisation([3, 4, 2], seed=1),
    "mf-depth3": lambda: deep_matrix_factorisation([2, 3, 3, 2], seed=2),
    "scalar-chain": lambda: scalar_chain([1.5, -0.7, 2.0, 0.9]),
}


@pytest.fixture(params=sorted(PROBLEMS))
def problem(request: pytest.FixtureRequest) -> Problem:
    return PROBLEMS[request.param]()
