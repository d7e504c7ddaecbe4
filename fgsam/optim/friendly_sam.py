"""Friendly SAM: SAM without the full-gradient component of the perturbation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.base import (
    ASCENT,
    DESCENT,
    SharpnessAwareOptimizer,
    check_non_negative,
    check_range,
)
from fgsam.optim.functional import EPS, global_norm, scaled
from fgsam.typing import Closure


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
        model (torch.nn.Module, optional): for BatchNorm and DDP handling.
            (default: ``None``)
        sync_ascent (bool, optional): all-reduce the ascent gradient under DDP.
            (default: ``False``)
        max_grad_norm (float, optional): clip the descent gradient. (default: ``None``)
        **base_kwargs: the base optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = FriendlySAM(model.parameters(), "sgd", rho=0.1, sigma=1.0, lmbda=0.9, lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "fsam"

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[Optimizer] | str,
        rho: float = 0.05,
        sigma: float = 1.0,
        lmbda: float = 0.9,
        model: torch.nn.Module | None = None,
        sync_ascent: bool = False,
        max_grad_norm: float | None = None,
        **base_kwargs: Any,
    ) -> None:
        check_non_negative("sigma", sigma)
        check_range("lmbda", lmbda, 0.0, 1.0)
        super().__init__(
            params,
            base_optimizer,
            rho,
            model=model,
            sync_ascent=sync_ascent,
            max_grad_norm=max_grad_norm,
            **base_kwargs,
        )
        self.sigma = float(sigma)
        self.lmbda = float(lmbda)

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, closure: Closure | None = None, scaler: torch.amp.GradScaler | None = None
    ) -> Tensor:
        """One Friendly-SAM step; returns the loss at the unperturbed weights."""
        closure = self._require_closure(closure)
        losses = {ASCENT: self.loss_and_grad(closure, ASCENT, sync=self.sync_ascent, scaler=scaler)}
        if not self.ascend(losses, scaler):
            self.skip_step(scaler)
            return losses[ASCENT]
        losses[DESCENT] = self.loss_and_grad(
            closure, DESCENT, perturbed=True, scaler=scaler, unscale=False
        )
        if self.check_finite(losses, scaler):
            self.descend(scaler)
        else:
            self.skip_step(scaler)
        return losses[ASCENT]

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Update the average with ``.grad`` and move to ``w + ε``."""
        self.ascend()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def ascend(
        self,
        losses: dict[str, Tensor] | None = None,
        scaler: torch.amp.GradScaler | None = None,
    ) -> bool:
        """Build :math:`u` from ``.grad``, update :math:`m` and perturb; ``False``
        (nothing changed) when the gradient overflowed under ``scaler``."""
        groups = list(self.perturbed_groups())
        params = [p for _, ps in groups for p in ps]
        grads = [p.grad for p in params]
        if losses is not None:
            # Checked before the average absorbs the gradient: a NaN would stay in it forever.
            check = {**losses, f"{ASCENT} gradient": global_norm(grads)}
            if not self.check_finite(check, scaler):
                return False
        directions = []
        for p, g in zip(params, grads):
            m = self.state[p].get("fsam_m")
            if m is None:
                self.state[p]["fsam_m"] = g.detach().clone()
                directions.append(g)
            else:
                directions.append(g - self.sigma * m)
                m.mul_(self.lmbda).add_(g, alpha=1.0 - self.lmbda)
        coeff = 1.0 / (global_norm(directions) + EPS)
        eps: list[Tensor] = []
        start = 0
        for group, ps in groups:
            eps += scaled(directions[start : start + len(ps)], coeff * group["rho"])
            start += len(ps)
        self.perturb(params, eps)
        return True

    def extra_repr(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "lmbda": self.lmbda, **super().extra_repr()}


__all__ = ["FriendlySAM"]
