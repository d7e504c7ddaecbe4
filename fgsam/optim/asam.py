"""ASAM: SAM with the scale-invariant (adaptive) radius, as its own registry entry."""

from __future__ import annotations

from typing import Any

from fgsam.optim.sam import SAM
from fgsam.typing import BaseOptimizer, Params


class ASAM(SAM):
    r"""Adaptive SAM from `"ASAM: Adaptive Sharpness-Aware Minimization for
    Scale-Invariant Learning of Deep Neural Networks" <https://arxiv.org/abs/2102.11600>`_
    (Kwon et al., ICML 2021): :class:`SAM` with ``adaptive=True`` and ASAM's radius.

    .. math::
        T = |w| + \eta, \qquad \epsilon = \rho\, T^2 g / \lVert T g \rVert,
        \qquad w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big).

    Args:
        params (iterable): parameters or parameter groups.
        base_optimizer (type or str): the wrapped optimizer.
        rho (float, optional): radius, about ten times SAM's. (default: ``0.5``)
        eta (float, optional): :math:`\eta`. (default: ``0.01``)
        **kwargs: the other arguments of :class:`SAM` and the base optimizer's.

    Example:
        >>> opt = ASAM(model.parameters(), "sgd", rho=0.5, lr=0.1, momentum=0.9)
    """

    name = "asam"

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.5,
                 eta: float = 0.01, **kwargs: Any) -> None:
        kwargs.setdefault("adaptive", True)
        super().__init__(params, base_optimizer, rho=rho, eta=eta, **kwargs)


__all__ = ["ASAM"]
