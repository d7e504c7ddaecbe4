"""LookSAM: an exact SAM step every k steps, its sharpness component reused in between."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import (
    ASCENT,
    DESCENT,
    SharpnessAwareOptimizer,
    check_non_negative,
    check_positive_int,
)
from fgsam.optim.vectors import EPS, global_norm, reject, scaled
from fgsam.typing import BaseOptimizer, Closure, Params


class LookSAM(SharpnessAwareOptimizer):
    r"""LookSAM from `"Towards Efficient and Scalable Sharpness-Aware Minimization"
    <https://arxiv.org/abs/2203.02714>`_ (Liu et al., CVPR 2022).

    Every ``k``-th step (step counter :math:`t` with :math:`t \bmod k = 0`, so the first
    step too) is an exact SAM step that also stores the part of the SAM gradient
    :math:`g_s = \nabla L(w + \rho \hat g)` orthogonal to :math:`g = \nabla L(w)`;
    the other steps take one pass and add that stored component back, rescaled:

    .. math::
        t \bmod k = 0:&\quad g_v = g_s - \langle g_s, \hat g\rangle \hat g,
        \quad w \leftarrow \mathrm{Base}(w, g_s), \\
        \text{otherwise}:&\quad w \leftarrow \mathrm{Base}\Big(w,\,
        g + \alpha \frac{\lVert g \rVert}{\lVert g_v \rVert + 10^{-12}}\, g_v\Big),

    with :math:`\hat g = g / (\lVert g \rVert + 10^{-12})`. :math:`k = 1` is SAM.
    :math:`g_v` lives in ``state[p]["looksam_gv"]`` (zero for a parameter first seen
    between two SAM steps). Parameters of ``perturb=False`` groups get the plain
    gradient on the cheap steps. Cost: 2 forward/backward passes every ``k``-th step and
    1 otherwise, :math:`1 + 1/k` on average. :meth:`first_step` / :meth:`second_step`
    are not supported (the number of passes varies).

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        k (int, optional): SAM step interval :math:`k \ge 1`. (default: ``5``)
        alpha (float, optional): weight :math:`\alpha \ge 0` of the reused component.
            (default: ``0.7``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...). ``sync_ascent`` here: all-reduce the ascent gradient of
            SAM steps under DDP (the single pass of the other steps is always synchronised).

    Example:
        >>> opt = LookSAM(model.parameters(), "adam", rho=0.05, k=5, alpha=0.7, lr=1e-3)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "looksam"
    hyperparameters = ("k", "alpha")
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05, k: int = 5,
                 alpha: float = 0.7, **kwargs: Any) -> None:
        check_positive_int("k", k)
        check_non_negative("alpha", alpha)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.k = k
        self.alpha = float(alpha)

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One LookSAM step; returns the loss at the unperturbed weights."""
        if self.global_state["step"] % self.k == 0:
            return self._sam_step(closure, scaler)
        losses: dict[str, Tensor] = {}
        # The only pass of a cheap step is the descent (kept scaled); before_descend adds g_v.
        self.descent_pass(closure, losses, scaler, perturbed=False)
        return losses[DESCENT]

    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        """On the cheap steps, add the stored component, rescaled, to ``.grad``."""
        if self.global_state["step"] % self.k == 0:  # a SAM step descends with g_s itself
            return
        params = [p for _, ps in self.perturbed_groups() for p in ps]
        grads = [p.grad for p in params]
        stored = [self.state[p].get("looksam_gv", torch.zeros_like(p)) for p in params]
        # Linear in the gradient scale: with a GradScaler the sum stays scaled, as it must.
        coeff = self.alpha * global_norm(grads) / (global_norm(stored) + EPS)
        if grads:
            torch._foreach_add_(grads, scaled(stored, coeff))

    def _sam_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        # The ascent direction is scale-invariant, so the gradients may stay scaled.
        losses = {
            ASCENT: self.loss_and_grad(
                closure, ASCENT, sync=self.sync_ascent, scaler=scaler, unscale=False
            )
        }
        opening = self.ascent_gradients(check_overflow=scaler is not None)
        if opening is None:
            self.skip_step(scaler)
            return losses[ASCENT]
        groups, params, norm = opening
        grads = [p.grad for p in params]
        unit = scaled(grads, 1.0 / (norm + EPS))
        self.perturb_along(groups, grads, norm)
        losses[DESCENT] = self.loss_and_grad(
            closure, DESCENT, perturbed=True, scaler=scaler, unscale=False
        )
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
            return losses[ASCENT]
        sharp = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        # Stored unscaled; committed only if the step is taken (an overflow skips it).
        g_v = scaled(reject(sharp, unit), 1.0 / self.grad_scale(scaler))
        if self.descend(scaler):
            for p, v in zip(params, g_v):
                self.state[p]["looksam_gv"] = v
        return losses[ASCENT]



__all__ = ["LookSAM"]
