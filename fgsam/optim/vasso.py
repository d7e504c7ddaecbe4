"""VaSSO: SAM whose ascent direction is a moving average of the gradients."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from fgsam.optim.base import SharpnessAwareOptimizer, check_range
from fgsam.typing import BaseOptimizer, Params


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
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        theta (float, optional): weight :math:`\theta \in [0, 1]` of the new gradient
            in the average; 0.9 is the authors' setting. (default: ``0.9``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = VaSSO(model.parameters(), "sgd", rho=0.1, theta=0.9, lr=0.05, momentum=0.9)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "vasso"
    hyperparameters = ("theta",)
    ascent_keeps_state = True

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 theta: float = 0.9, **kwargs: Any) -> None:
        check_range("theta", theta, 0.0, 1.0)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.theta = float(theta)

    def ascent_directions(self, params: list[Tensor]) -> list[Tensor]:
        """The gradient averaged into :math:`d`."""
        for p in params:
            self.running_average(p, "vasso_d", p.grad, 1.0 - self.theta, self.theta)
        return [self.state[p]["vasso_d"] for p in params]


__all__ = ["VaSSO"]
