"""Friendly SAM: SAM without the full-gradient component of the perturbation."""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor

from fgsam.optim.base import SharpnessAwareOptimizer, check_non_negative, check_range
from fgsam.typing import BaseOptimizer, Params


class FriendlySAM(SharpnessAwareOptimizer):
    r"""Friendly Sharpness-Aware Minimization from `"Friendly Sharpness-Aware
    Minimization" <https://arxiv.org/abs/2403.12350>`_ (Li et al., CVPR 2024).

    The perturbation removes an estimate of the full-batch gradient, an exponential
    moving average :math:`m` of past gradients, from the stochastic gradient:

    .. math::
        u = g - \sigma m_{\mathrm{prev}}, \qquad
        m \leftarrow \lambda m + (1 - \lambda) g, \qquad
        \epsilon = \rho\, u / (\lVert u \rVert + 10^{-12}), \qquad
        w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`g = \nabla L(w)`. As in the authors' code, :math:`m` starts at the first
    gradient a parameter receives and that first step uses :math:`u = g` (a SAM step);
    :math:`\sigma = 0` is SAM. :math:`m` lives in ``state[p]["fsam_m"]``.
    Cost: 2 forward/backward passes per step.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        sigma (float, optional): weight :math:`\sigma \ge 0` of the removed average.
            (default: ``1.0``)
        lam (float, optional): decay :math:`\lambda \in [0, 1]` of the average
            (``lmbda``: its deprecated name). (default: ``0.9``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = FriendlySAM(model.parameters(), "sgd", rho=0.1, sigma=1.0, lam=0.9, lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "friendly-sam"
    hyperparameters = ("sigma", "lam")
    ascent_keeps_state = True

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 sigma: float = 1.0, lam: float = 0.9, **kwargs: Any) -> None:
        arg = "lam"
        if "lmbda" in kwargs:  # the name of earlier releases
            warnings.warn("FriendlySAM's lmbda is deprecated; use lam", DeprecationWarning, 2)
            arg, lam = "lmbda", kwargs.pop("lmbda")
        check_non_negative("sigma", sigma)
        check_range(arg, lam, 0.0, 1.0)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.sigma = float(sigma)
        self.lam = float(lam)

    @property
    def lmbda(self) -> float:
        """Deprecated name of :attr:`lam`."""
        return self.lam

    def ascent_directions(self, params: list[Tensor]) -> list[Tensor]:
        """:math:`u = g - \\sigma m_{\\mathrm{prev}}`, updating :math:`m`."""
        directions = []
        for p in params:
            m = self.running_average(p, "fsam_m", p.grad, self.lam, 1.0 - self.lam)
            directions.append(p.grad if m is None else p.grad - self.sigma * m)
        return directions



__all__ = ["FriendlySAM"]
