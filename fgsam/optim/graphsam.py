"""GraphSAM: SAM that reuses the previous descent gradient as the next ascent direction."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import (
    ASCENT,
    DESCENT,
    SharpnessAwareOptimizer,
    check_non_negative,
    check_positive_int,
    check_range,
)
from fgsam.optim.vectors import EPS, global_norm
from fgsam.typing import BaseOptimizer, Closure, Params

#: The fraction of ``rho`` under which GraphSAM warns that its radius has faded away.
FADED = 0.01


class GraphSAM(SharpnessAwareOptimizer):
    r"""GraphSAM from `"Efficient Sharpness-Aware Minimization for Molecular Graph
    Transformer Models" <https://openreview.net/forum?id=Od39h4XQ3Y>`_ (Wang et al.,
    ICLR 2024).

    The perturbation follows a moving direction :math:`m` built from the previous steps'
    descent gradients, so an ordinary step costs one forward/backward pass:

    .. math::
        \epsilon = \rho_e\, \frac{m}{\lVert m \rVert}, \qquad
        g_s = \nabla L(w + \epsilon), \qquad
        w \leftarrow \mathrm{Base}(w, g_s), \qquad
        m \leftarrow \beta\, m + (1 - \beta)\, \frac{g_s}{\lVert g_s \rVert},

    with the radius decayed by epoch, :math:`\rho_e = \rho\, \gamma^{\lfloor e / s
    \rfloor}` (:math:`s` = ``decay_every``; a warning when :math:`\rho_e` falls below 1%
    of :math:`\rho`, as it does within 7 epochs at the defaults: in a full-batch loop,
    where an epoch is one step, set ``decay_every`` to a fraction of the epochs). At the
    first step of every epoch (:meth:`start_epoch`) and whenever the direction is missing,
    the step first takes
    :math:`g = \nabla L(w)` and resets :math:`m \leftarrow g` (one extra pass). With
    ``adaptive`` the perturbation is ASAM-scaled, :math:`\epsilon = \rho_e T^2 m /
    \lVert T m \rVert`, :math:`T = |w| + \eta`. With ``radius`` every tensor's
    perturbation is clipped to that norm, decayed with the same schedule,
    :math:`\epsilon_i \leftarrow \epsilon_i \min(1, r_e / \lVert \epsilon_i \rVert)`,
    :math:`r_e = r\, \gamma^{\lfloor e / s \rfloor}`: with ``adaptive=True, eta=0`` that is
    the perturbation of the authors' released code (their schedule compounds and their
    direction is normalised tensor by tensor; neither is copied). Cost: 1 forward/backward
    per step, plus 1 per epoch.

    :meth:`step` returns :math:`L(w)` on refresh steps; on the other steps the only loss
    evaluated is the perturbed one, :math:`L(w + \epsilon)`, and that is returned.
    Manual ``first_step``/``second_step`` are not supported: use :meth:`step`.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): initial radius :math:`\rho`. (default: ``0.05``)
        beta (float, optional): moving-average factor :math:`\beta \in [0, 1]`.
            (default: ``0.99``)
        gamma (float, optional): radius decay :math:`\gamma \in (0, 1]`.
            (default: ``0.5``)
        decay_every (int, optional): epochs :math:`s` between two decays.
            (default: ``1``)
        adaptive (bool, optional): ASAM scaling of the perturbation. (default: ``False``)
        eta (float, optional): ASAM's :math:`\eta`. (default: ``0.01``)
        radius (float, optional): per-tensor clip :math:`r` of the perturbation, or
            ``None`` for none. (default: ``None``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ``weight_decay``, ...). ``sync_ascent`` here: all-reduce the
            refresh gradient under DDP.

    Example:
        >>> opt = GraphSAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=1e-3)
        >>> for epoch in range(epochs):
        ...     opt.start_epoch()
        ...     for batch in loader:
        ...         loss = opt.step(lambda: F.mse_loss(model(batch), batch.y))
    """

    name = "graphsam"
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 beta: float = 0.99, gamma: float = 0.5, decay_every: int = 1,
                 adaptive: bool = False, eta: float = 0.01, radius: float | None = None,
                 **kwargs: Any) -> None:
        check_range("beta", beta, 0.0, 1.0)
        check_range("gamma", gamma, 0.0, 1.0, low_open=True)
        check_positive_int("decay_every", decay_every)
        check_non_negative("eta", eta)
        if radius is not None:
            check_non_negative("radius", radius)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.decay_every = decay_every
        self.adaptive = bool(adaptive)
        self.eta = float(eta)
        self.radius = None if radius is None else float(radius)
        # epoch -1: start_epoch() not called yet (the radius is rho until it is).
        self.global_state.update(epoch=-1, refresh=True, rho_scale=1.0)

    # ------------------------------------------------------------------ epochs
    def start_epoch(self) -> None:
        """Start the next epoch: decay the radius and refresh the direction next step.

        Warns once when the radius falls below :data:`FADED` of ``rho``: GraphSAM is then
        its base optimizer in all but cost. That is what happens within a few calls in a
        full-batch loop, where an epoch is one step: there, raise ``decay_every`` (e.g. to a
        tenth of the epochs) or ``gamma``.
        """
        epoch = self.global_state["epoch"] + 1
        self.global_state["epoch"] = epoch
        scale = self.gamma ** (epoch // self.decay_every)
        if scale < FADED <= self.global_state["rho_scale"]:
            warnings.warn(
                f"GraphSAM: after start_epoch() call {epoch + 1} the radius is {scale:.2g} x rho "
                f"(gamma={self.gamma:g} every {self.decay_every} epoch(s)), below "
                f"{FADED:.0%} of rho: the steps are now the base optimizer's. Call "
                f"start_epoch() once per pass over the data; in a full-batch loop, where an "
                f"epoch is one step, raise decay_every or gamma", RuntimeWarning, stacklevel=2)
        self.global_state["rho_scale"] = scale
        self.global_state["refresh"] = True

    def refresh(self) -> None:
        """Make the next step recompute :math:`m \\leftarrow \\nabla L(w)`."""
        self.global_state["refresh"] = True

    @property
    def rho_e(self) -> list[float]:
        """The current radius :math:`\\rho_e` of each parameter group."""
        return [g["rho"] * self.global_state["rho_scale"] for g in self.param_groups]

    # -------------------------------------------------------------------- step
    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One GraphSAM step; returns :math:`L(w)` (refresh) or :math:`L(w+\\epsilon)`."""
        losses: dict[str, Tensor] = {}
        if self.global_state["refresh"] or not self._directed_groups():
            losses[ASCENT] = self.loss_and_grad(
                closure, ASCENT, sync=self.sync_ascent, scaler=scaler
            )
            if not self.check_finite(losses, scaler) or not self._reset_direction(scaler):
                self.skip_step(scaler)
                return losses[ASCENT]
        groups = self._directed_groups()
        self.perturb([p for _, ps in groups for p in ps], self._perturbation(groups))
        self.descent_pass(closure, losses, scaler)
        return losses.get(ASCENT, losses[DESCENT])

    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        self._update_direction([p for _, ps in self._directed_groups() for p in ps], scaler)

    # --------------------------------------------------------------- internals
    def _directed_groups(self) -> list[tuple[dict[str, Any], list[Tensor]]]:
        """``(group, params that have a direction m)`` for every perturbed group."""
        out = []
        for group in self.param_groups:
            if group["perturb"]:
                params = [p for p in group["params"] if "direction" in self.state[p]]
                if params:
                    out.append((group, params))
        return out

    def _reset_direction(self, scaler: torch.amp.GradScaler | None) -> bool:
        """``m ← ∇L(w)`` from ``.grad``; ``False`` if the (unscaled) gradient overflowed."""
        params = [p for _, ps in self.perturbed_groups() for p in ps]
        grads = [p.grad for p in params]
        if scaler is not None and grads and not bool(torch.isfinite(global_norm(grads))):
            return False
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].pop("direction", None)
        for p in params:
            self.state[p]["direction"] = p.grad.detach().clone()
        self.global_state["refresh"] = False
        return True

    def _perturbation(self, groups: list[tuple[dict[str, Any], list[Tensor]]]) -> list[Tensor]:
        """``ε = ρ_e m / ‖m‖`` (or ``ρ_e T² m / ‖T m‖``), one norm over all groups."""
        params = [p for _, ps in groups for p in ps]
        direction = [self.state[p]["direction"] for p in params]
        if self.adaptive:
            t = [p.abs().add_(self.eta) for p in params]
            tm = torch._foreach_mul(direction, t)
            norm = global_norm(tm)
            direction = torch._foreach_mul(tm, t)
        else:
            norm = global_norm(direction)
        eps: list[Tensor] = []
        start = 0
        for group, ps in groups:
            chunk = direction[start : start + len(ps)]
            start += len(ps)
            factor = (group["rho"] * self.global_state["rho_scale"]) / (norm + EPS)
            eps += _times(chunk, factor)
        if self.radius is not None:
            r_e = self.radius * self.global_state["rho_scale"]
            for e, n in zip(eps, torch._foreach_norm(eps), strict=True):
                e.mul_((r_e / (n + EPS)).clamp(max=1.0))
        return eps

    def _update_direction(self, params: list[Tensor], scaler: torch.amp.GradScaler | None) -> None:
        """``m ← β m + (1 − β) g_s / ‖g_s‖`` (skipped if the scaled gradient overflowed)."""
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        norm = global_norm(grads)
        scale = self.grad_scale(scaler)
        if scaler is not None and not bool(torch.isfinite(norm)):
            return
        # The grads may still carry the scaler's factor; g/(‖g‖+eps) on the true scale.
        coeff = (1.0 - self.beta) / (norm + EPS * scale)
        direction = [self.state[p]["direction"] for p in params]
        torch._foreach_mul_(direction, self.beta)
        torch._foreach_add_(direction, _times(grads, coeff))
        # A parameter that got its first gradient only now needs a direction: refresh.
        if any("direction" not in self.state[p]
               for p in self.params_with_grad(perturbed_only=True)):
            self.global_state["refresh"] = True

    def extra_repr(self) -> dict[str, Any]:
        out = super().extra_repr()
        out.update(beta=self.beta, gamma=self.gamma, decay_every=self.decay_every)
        if self.adaptive:
            out.update(adaptive=True, eta=self.eta)
        if self.radius is not None:
            out.update(radius=self.radius)
        out.update(epoch=self.global_state["epoch"], rho_scale=self.global_state["rho_scale"])
        return out


def _times(xs: list[Tensor], factor: Tensor) -> list[Tensor]:
    """``[x * factor for x in xs]`` with a 0-dim tensor factor, fused where possible."""
    if not xs:
        return []
    devices = {x.device for x in xs}
    if devices == {factor.device}:
        return list(torch._foreach_mul(xs, factor))
    return [x * factor.to(x.device) for x in xs]


__all__ = ["FADED", "GraphSAM"]
