"""SAM, with the ASAM, Unified SAM and multi-step ascent generalisations."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import (
    SharpnessAwareOptimizer,
    check_non_negative,
    check_positive_int,
    check_range,
)
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import EPS, global_norm
from fgsam.typing import BaseOptimizer, Params


class SAM(SharpnessAwareOptimizer):
    r"""Sharpness-Aware Minimization from `"Sharpness-Aware Minimization for Efficiently
    Improving Generalization" <https://arxiv.org/abs/2010.01412>`_ (Foret et al., ICLR 2021),
    with ASAM (`Kwon et al., ICML 2021 <https://arxiv.org/abs/2102.11600>`_), Unified SAM
    (`Oikonomou & Loizou, 2025 <https://arxiv.org/abs/2503.02225>`_) and multi-step ascent.

    .. math::
        \epsilon = \rho \Big(\frac{\lambda}{\lVert T g \rVert} + 1 - \lambda\Big) T^2 g,
        \qquad w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`g = \nabla L(w)`, :math:`T = \mathrm{diag}(|w| + \eta)` when
    ``adaptive`` (ASAM) and :math:`T = I` otherwise, and :math:`\lambda` = ``unified``
    (1 is SAM, 0 is unnormalised SAM). With ``ascent_steps`` :math:`n > 1` the ascent
    starts at :math:`\epsilon = 0` and repeats :math:`n` times
    :math:`\epsilon \leftarrow \mathrm{Proj}_{\lVert T^{-1}\epsilon\rVert \le \rho}
    (\epsilon + \frac{\rho}{n} \hat d(w + \epsilon))`, :math:`\hat d` the direction above
    at the current point. Cost: :math:`n + 1` forward/backward passes per step.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        adaptive (bool, optional): ASAM's scale-invariant radius. (default: ``False``)
        eta (float, optional): ASAM's :math:`\eta`. (default: ``0.01``)
        unified (float, optional): Unified SAM's :math:`\lambda \in [0, 1]`.
            (default: ``1.0``)
        ascent_steps (int, optional): number of ascent steps :math:`n`. (default: ``1``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = SAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=1e-3)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> loss = opt.step(closure)
    """

    name = "sam"
    step_buffers: tuple[str, ...] = ("_eps",)

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 adaptive: bool = False, eta: float = 0.01, unified: float = 1.0,
                 ascent_steps: int = 1, **kwargs: Any) -> None:
        check_non_negative("eta", eta)
        check_range("unified", unified, 0.0, 1.0)
        check_positive_int("ascent_steps", ascent_steps)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.adaptive = bool(adaptive)
        self.eta = float(eta)
        self.unified = float(unified)
        self.ascent_steps = ascent_steps
        self._eps: dict[Tensor, Tensor] = {}

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Add one ascent increment of radius ``rho / ascent_steps`` built from ``.grad``.

        Returns ``False`` (nothing moved) if ``check_overflow`` and the gradient is not
        finite.
        """
        groups = list(self.perturbed_groups())
        params = [p for _, ps in groups for p in ps]
        direction, norm = self.direction(params)
        if check_overflow and not bool(torch.isfinite(norm)):
            return False
        if self.unified == 1.0:  # plain SAM: two fewer small ops per step
            coeff = 1.0 / (norm + EPS)
        else:
            coeff = self.unified / (norm + EPS) + (1.0 - self.unified)
        increments = self.group_scaled(groups, direction, coeff, self.ascent_steps)
        if not self.is_perturbed:
            if self.ascent_steps > 1:  # the later ascents add to it
                self._eps = dict(zip(params, increments, strict=True))
            self.perturb(params, increments)
            return True
        for p, inc in zip(params, increments, strict=True):
            self._eps[p] = self._eps[p] + inc if p in self._eps else inc
        self._project()
        moved = [p for p in self._perturbed if p in self._eps]
        torch._foreach_copy_(moved, [self._backup[p] + self._eps[p] for p in moved])
        return True

    def direction(self, params: list[Tensor]) -> tuple[list[Tensor], Tensor]:
        """``(T² g, ‖T g‖)``: the unnormalised ascent direction and its norm."""
        grads = [p.grad for p in params]
        if not self.adaptive:
            return grads, global_norm(grads)
        t = [self.saved_weight(p).abs().add_(self.eta) for p in params]
        tg = torch._foreach_mul(grads, t)
        return torch._foreach_mul(tg, t), global_norm(tg)

    def _project(self) -> None:
        """Project ``ε`` back onto ``‖T⁻¹ ε / ρ‖ ≤ 1`` (per-group ``rho``)."""
        scaled_eps = []
        for group in self.param_groups:
            if not group["perturb"] or group["rho"] == 0:
                continue
            for p in group["params"]:
                if p in self._eps:
                    e = self._eps[p] / group["rho"]
                    if self.adaptive:
                        e = e / self.saved_weight(p).abs().add(self.eta)
                    scaled_eps.append(e)
        norm = global_norm(scaled_eps)
        if bool(norm > 1):
            self._eps = {p: e / norm.to(e.device) for p, e in self._eps.items()}


    def extra_repr(self) -> dict[str, Any]:
        out = super().extra_repr()
        if self.adaptive:
            out.update(adaptive=True, eta=self.eta)
        if self.unified != 1.0:
            out["unified"] = self.unified
        if self.ascent_steps != 1:
            out["ascent_steps"] = self.ascent_steps
        return out


__all__ = ["SAM"]
