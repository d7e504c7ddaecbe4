"""AE-SAM: a SAM step only where the gradient norm says the region is sharp."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import ASCENT, SharpnessAwareOptimizer, check_range
from fgsam.typing import BaseOptimizer, Closure, Params


class AESAM(SharpnessAwareOptimizer):
    r"""Adaptive policy to employ SAM from `"An Adaptive Policy to Employ Sharpness-Aware
    Minimization" <https://arxiv.org/abs/2304.14647>`_ (Jiang et al., ICLR 2023).

    Running estimates of the mean and variance of :math:`\lVert g \rVert^2` flag sharp
    regions; only there is a SAM step taken, elsewhere a plain step of the base optimizer:

    .. math::
        \mu &\leftarrow \delta \mu + (1 - \delta) \lVert g \rVert^2, \qquad
        s^2 \leftarrow \delta s^2 + (1 - \delta) (\lVert g \rVert^2 - \mu)^2, \\
        w &\leftarrow \begin{cases}
            \mathrm{Base}\big(w, \nabla L(w + \rho \hat g)\big)
                & \text{if } \lVert g \rVert^2 \ge \mu + c_t s, \\
            \mathrm{Base}(w, g) & \text{otherwise,}
        \end{cases}

    with :math:`g = \nabla L(w)`, :math:`\hat g = g / (\lVert g \rVert + 10^{-12})`,
    :math:`\mu = s^2 = 0` before the first step (the paper's Algorithm 1, in which the
    statistics include the current gradient), and the paper's threshold schedule
    :math:`c_t = c_{\mathrm{start}} + (c_{\mathrm{end}} - c_{\mathrm{start}})
    \min(t / T, 1)` rising linearly over ``total_steps`` :math:`T` (more SAM steps early,
    fewer late). Without ``total_steps`` the threshold stays at the schedule's mean
    :math:`(c_{\mathrm{start}} + c_{\mathrm{end}}) / 2`. :math:`c = -\infty` is SAM,
    :math:`c = +\infty` the base optimizer. :math:`\mu`, :math:`s^2` and the number of
    SAM steps taken are in ``global_state`` (``"ae_mean"``, ``"ae_var"``,
    ``"sam_steps"``). Cost: 2 forward/backward passes on SAM steps and 1 otherwise
    (about 1.5 on average with the defaults). The first pass is always synchronised
    under DDP, so that every worker takes the same decision; :meth:`first_step` /
    :meth:`second_step` are not supported.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        delta (float, optional): decay :math:`\delta \in [0, 1)` of the running
            statistics. (default: ``0.9``)
        c_start (float, optional): threshold :math:`c` at the first step (the paper's
            :math:`\lambda_1`). (default: ``-1.0``)
        c_end (float, optional): threshold :math:`c` after ``total_steps`` (the paper's
            :math:`\lambda_2`). (default: ``1.0``)
        total_steps (int, optional): length :math:`T` of the threshold schedule, usually
            the number of training steps. (default: ``None``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = AESAM(model.parameters(), "sgd", rho=0.05, total_steps=10_000, lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
        >>> opt.global_state["sam_steps"]  # how many of the steps were SAM steps
    """

    name = "ae-sam"
    hyperparameters = ("delta", "c_start", "c_end", "total_steps")
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 delta: float = 0.9, c_start: float = -1.0, c_end: float = 1.0,
                 total_steps: int | None = None, **kwargs: Any) -> None:
        check_range("delta", delta, 0.0, 1.0, high_open=True)
        for name, value in (("c_start", c_start), ("c_end", c_end)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"{name} must be a number (±inf allowed), got {value!r}")
        if c_start != c_end and not (math.isfinite(c_start) and math.isfinite(c_end)):
            raise ValueError(
                f"c_start and c_end must be finite unless equal (a fixed threshold), got "
                f"c_start={c_start!r}, c_end={c_end!r}"
            )
        if total_steps is not None and (
            isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1
        ):
            raise ValueError(f"total_steps must be an integer >= 1 or None, got {total_steps!r}")
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.delta = float(delta)
        self.c_start = float(c_start)
        self.c_end = float(c_end)
        self.total_steps = total_steps
        self.global_state.update({"ae_mean": 0.0, "ae_var": 0.0, "sam_steps": 0})

    def threshold(self, t: int) -> float:
        """The threshold :math:`c_t` at step ``t``."""
        if self.c_start == self.c_end:
            return self.c_start
        if self.total_steps is None:
            return 0.5 * (self.c_start + self.c_end)
        return self.c_start + (self.c_end - self.c_start) * min(t / self.total_steps, 1.0)

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One AE-SAM step; returns the loss at the unperturbed weights."""
        # Kept scaled: a plain step hands these very gradients to the base optimizer.
        losses = {ASCENT: self.loss_and_grad(closure, ASCENT, scaler=scaler, unscale=False)}
        groups, params, norm = self.ascent_gradients(check_overflow=False)  # type: ignore[misc]
        grads = [p.grad for p in params]
        if not self.check_finite({**losses, f"{ASCENT} gradient": norm}, scaler):
            self.skip_step(scaler)
            return losses[ASCENT]
        if not self.wants_sam(float(norm) / self.grad_scale(scaler)):
            self.descend(scaler)
            return losses[ASCENT]
        self.global_state["sam_steps"] += 1
        self.perturb_along(groups, grads, norm)
        self.descent_pass(closure, losses, scaler)
        return losses[ASCENT]

    def wants_sam(self, grad_norm: float) -> bool:
        """Update the running statistics with :math:`\\lVert g \\rVert^2` and say whether
        this step is a SAM step."""
        sq = grad_norm * grad_norm
        state = self.global_state
        mean = self.delta * state["ae_mean"] + (1.0 - self.delta) * sq
        var = self.delta * state["ae_var"] + (1.0 - self.delta) * (sq - mean) ** 2
        state["ae_mean"], state["ae_var"] = mean, var
        c = self.threshold(state["step"])
        if math.isinf(c):
            return c < 0
        return sq >= mean + c * math.sqrt(var)



__all__ = ["AESAM"]
