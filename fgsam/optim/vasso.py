"""VaSSO: SAM whose ascent direction is a moving average of the gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.base import SharpnessAwareOptimizer, check_range
from fgsam.optim.vectors import EPS, global_norm


class VaSSO(SharpnessAwareOptimizer):
    r"""Variance-suppressed sharpness-aware optimization from `"Enhancing Sharpness-Aware
    Optimization Through Variance Suppression" <https://arxiv.org/abs/2309.15639>`_
    (Li & Giannakis, NeurIPS 2023).

    The perturbation follows an exponential moving average :math:`d` of the stochastic
    gradients instead of the current one, which lowers the variance of the adversarial
    direction:

    .. math::
        d \leftarrow (1 - \theta)\, d + \theta g, \qquad
        \epsilon = \rho\, d / (\lVert d \rVert + 10^{-12}), \qquad
        w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`g = \nabla L(w)` and :math:`d` set to the first gradient a parameter
    receives (as in the authors' code). :math:`\theta = 1` is SAM. :math:`d` lives in
    ``state[p]["vasso_d"]``. Cost: 2 forward/backward passes per step.

    Args:
        params (iterable): parameters or parameter groups (a group may set ``rho`` and
            ``perturb``).
        base_optimizer (type or str): e.g. :class:`torch.optim.SGD` or ``"adam"``.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        theta (float, optional): weight :math:`\theta \in [0, 1]` of the new gradient
            in the average; 0.9 is the authors' setting. (default: ``0.9``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...).

    Example:
        >>> opt = VaSSO(model.parameters(), "sgd", rho=0.1, theta=0.9, lr=0.05, momentum=0.9)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "vasso"
    ascent_keeps_state = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[Optimizer] | str,
        rho: float = 0.05,
        theta: float = 0.9,
        **kwargs: Any,
    ) -> None:
        check_range("theta", theta, 0.0, 1.0)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.theta = float(theta)

    @torch.no_grad()
    def ascend(self, check_overflow: bool = False) -> bool:
        """Average ``.grad`` into :math:`d` and perturb.

        ``False`` (nothing changed) if ``check_overflow`` and the gradient is not finite;
        :meth:`step` checks the loss and the gradient before calling it.
        """
        opening = self.ascent_gradients(check_overflow, norm=False)
        if opening is None:
            return False
        groups, params, _ = opening
        grads = [p.grad for p in params]
        averages = []
        for p, g in zip(params, grads):
            d = self.state[p].get("vasso_d")
            if d is None:
                d = g.detach().clone()
            else:  # a new tensor, not in place: a failed step rolls the state back by reference
                d = d.mul(1.0 - self.theta).add_(g, alpha=self.theta)
            self.state[p]["vasso_d"] = d
            averages.append(d)
        coeff = 1.0 / (global_norm(averages) + EPS)
        self.perturb(params, self.group_scaled(groups, averages, coeff))
        return True

    def extra_repr(self) -> dict[str, Any]:
        return {"theta": self.theta, **super().extra_repr()}


__all__ = ["VaSSO"]
