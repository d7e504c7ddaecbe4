"""Friendly SAM: SAM without the full-gradient component of the perturbation."""

from __future__ import annotations

import warnings
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
        lam (float, optional): decay :math:`\lambda \in [0, 1]` of the average
            (``lmbda``: its deprecated name). (default: ``0.9``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...).

    Example:
        >>> opt = FriendlySAM(model.parameters(), "sgd", rho=0.1, sigma=1.0, lam=0.9, lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "friendly-sam"
    ascent_keeps_state = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[Optimizer] | str,
        rho: float = 0.05,
        sigma: float = 1.0,
        lam: float = 0.9,
        **kwargs: Any,
    ) -> None:
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

    @torch.no_grad()
    def ascend(self, check_overflow: bool = False) -> bool:
        """Build :math:`u` from ``.grad``, update :math:`m` and perturb.

        ``False`` (nothing changed) if ``check_overflow`` and the gradient is not finite;
        :meth:`step` checks the loss and the gradient before calling it.
        """
        opening = self.ascent_gradients(check_overflow, norm=False)
        if opening is None:
            return False
        groups, params, _ = opening
        grads = [p.grad for p in params]
        directions = []
        for p, g in zip(params, grads):
            m = self.state[p].get("fsam_m")
            if m is None:
                self.state[p]["fsam_m"] = g.detach().clone()
                directions.append(g)
            else:
                directions.append(g - self.sigma * m)
                # A new tensor, not in place: a failed step rolls the state back by reference.
                self.state[p]["fsam_m"] = m.mul(self.lam).add_(g, alpha=1.0 - self.lam)
        coeff = 1.0 / (global_norm(directions) + EPS)
        self.perturb(params, self.group_scaled(groups, directions, coeff))
        return True

    def extra_repr(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "lam": self.lam, **super().extra_repr()}


__all__ = ["FriendlySAM"]
