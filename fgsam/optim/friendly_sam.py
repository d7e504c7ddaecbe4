"""Friendly SAM: SAM without the full-gradient component of the perturbation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.base import SharpnessAwareOptimizer, check_non_negative, check_range
from fgsam.optim.vectors import EPS, global_norm


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
        params (iterable): parameters or parameter groups (a group may set ``rho`` and
            ``perturb``).
        base_optimizer (type or str): e.g. :class:`torch.optim.SGD` or ``"adam"``.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        sigma (float, optional): weight :math:`\sigma \ge 0` of the removed average.
            (default: ``1.0``)
        lmbda (float, optional): decay :math:`\lambda \in [0, 1]` of the average.
            (default: ``0.9``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...).

    Example:
        >>> opt = FriendlySAM(model.parameters(), "sgd", rho=0.1, sigma=1.0, lmbda=0.9, lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "fsam"
    ascent_keeps_state = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[Optimizer] | str,
        rho: float = 0.05,
        sigma: float = 1.0,
        lmbda: float = 0.9,
        **kwargs: Any,
    ) -> None:
        check_non_negative("sigma", sigma)
        check_range("lmbda", lmbda, 0.0, 1.0)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.sigma = float(sigma)
        self.lmbda = float(lmbda)

    @torch.no_grad()
    def ascend(self, check_overflow: bool = False) -> bool:
        """Build :math:`u` from ``.grad``, update :math:`m` and perturb.

        ``False`` (nothing changed) if ``check_overflow`` and the gradient is not finite;
        :meth:`step` checks the loss and the gradient before calling it.
        """
        groups = list(self.perturbed_groups())
        params = [p for _, ps in groups for p in ps]
        grads = [p.grad for p in params]
        if check_overflow and not bool(torch.isfinite(global_norm(grads))):
            return False
        directions = []
        for p, g in zip(params, grads):
            m = self.state[p].get("fsam_m")
            if m is None:
                self.state[p]["fsam_m"] = g.detach().clone()
                directions.append(g)
            else:
                directions.append(g - self.sigma * m)
                # A new tensor, not in place: a failed step rolls the state back by reference.
                self.state[p]["fsam_m"] = m.mul(self.lmbda).add_(g, alpha=1.0 - self.lmbda)
        coeff = 1.0 / (global_norm(directions) + EPS)
        self.perturb(params, self.group_scaled(groups, directions, coeff))
        return True

    def extra_repr(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "lmbda": self.lmbda, **super().extra_repr()}


__all__ = ["FriendlySAM"]
