"""GSAM: SAM's descent minus the part of the plain gradient orthogonal to it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import check_non_negative
from fgsam.optim.sam import SAM
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import global_dot, normalized
from fgsam.typing import BaseOptimizer, Params


class GSAM(SAM):
    r"""Surrogate Gap guided SAM from `"Surrogate Gap Guided Sharpness-Aware
    Minimization" <https://arxiv.org/abs/2203.08065>`_ (Zhuang et al., ICLR 2022).

    SAM's ascent, then a descent that also lowers the surrogate gap
    :math:`L(w + \epsilon) - L(w)` by removing part of the plain gradient's component
    orthogonal to the perturbed one:

    .. math::
        g = \nabla L(w), \quad \epsilon = \rho\, \hat g, \quad g_s = \nabla L(w + \epsilon),
        \quad d = g_s - \alpha \big(g - \langle g, \hat g_s \rangle \hat g_s\big), \quad
        w \leftarrow \mathrm{Base}(w, d),

    with :math:`\hat x = x / (\lVert x \rVert + 10^{-12})` and inner products and norms
    global over the perturbed parameters (parameters of ``perturb=False`` groups descend
    with :math:`g_s`). :math:`\alpha = 0` is exactly :class:`SAM`. Cost: two
    forward/backward passes per step, as SAM, plus one stored copy of :math:`g`.

    Every option of :class:`SAM` applies to the ascent (``adaptive``, ``unified``,
    ``ascent_steps``); :math:`g` is always the gradient at the unperturbed weights. The
    paper also ties :math:`\rho` to the learning-rate schedule
    (:math:`\rho_t \propto` lr); that schedule is left to the user (set ``group["rho"]``).

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        alpha (float, optional): weight :math:`\alpha \ge 0` of the removed orthogonal
            component. (default: ``0.4``)
        **kwargs: the other arguments of :class:`SAM` (``adaptive``, ``model``,
            ``max_grad_norm``, ...) and the base optimizer's (``lr``, ...).

    Example:
        >>> opt = GSAM(model.parameters(), torch.optim.Adam, rho=0.05, alpha=0.4, lr=1e-3)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> loss = opt.step(closure)
    """

    name = "gsam"
    hyperparameters = ("alpha",)
    step_buffers = ("_eps", "_grad")

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 alpha: float = 0.4, **kwargs: Any) -> None:
        check_non_negative("alpha", alpha)
        super().__init__(params, base_optimizer, rho=rho, **kwargs)
        self.alpha = float(alpha)
        self._grad: dict[Tensor, Tensor] = {}

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        if not self.is_perturbed:  # the first ascent: .grad holds g = ∇L(w)
            self._grad = {p: p.grad.clone() for _, ps in self.perturbed_groups() for p in ps}
        return super().ascend(check_overflow)

    @no_grad
    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        if self.alpha != 0 and self._grad:
            self.decompose(self.grad_scale(scaler))


    def decompose(self, scale: float) -> None:
        """``.grad`` (:math:`g_s`, carrying ``scale``) ← :math:`g_s - \\alpha g_\\perp`."""
        params = [p for _, ps in self.perturbed_groups() for p in ps]
        g_s = [p.grad for p in params]
        # g was unscaled by its pass; g_s still carries the scaler's factor.
        g = [self._grad[p] * scale if p in self._grad else torch.zeros_like(p) for p in params]
        unit = normalized(g_s)
        coeff = global_dot(g, unit)
        for p, gi, u in zip(params, g, unit, strict=True):
            p.grad.sub_(gi - coeff.to(u.device) * u, alpha=self.alpha)



__all__ = ["GSAM"]
