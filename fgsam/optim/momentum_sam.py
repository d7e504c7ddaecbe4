"""Momentum-SAM: the perturbation comes from the base optimizer's momentum, for free."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import DESCENT, SharpnessAwareOptimizer
from fgsam.optim.vectors import EPS, global_norm
from fgsam.typing import BaseOptimizer, Closure, Params

#: Where ``torch.optim`` optimizers keep their first moment: SGD/RMSprop, Adam family.
MOMENTUM_KEYS = ("momentum_buffer", "exp_avg")


class MomentumSAM(SharpnessAwareOptimizer):
    r"""Momentum-SAM from `"Momentum-SAM: Sharpness Aware Minimization without
    Computational Overhead" <https://arxiv.org/abs/2401.12033>`_ (Becker et al., 2024).

    The perturbation is the normalised momentum of the base optimizer, so no extra
    pass is needed to find it:

    .. math::
        \epsilon = -\rho\, \frac{v}{\lVert v \rVert + 10^{-12}}, \qquad
        w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`v` the base optimizer's momentum buffer (``momentum_buffer`` of SGD or
    RMSprop with momentum, ``exp_avg`` of Adam, AdamW, NAdam, RAdam, Adamax) before the
    step, and the norm global over all perturbed parameters. :math:`v` points along past
    gradients, so :math:`w + \epsilon` lies ahead along the coming descent. Cost: one
    forward/backward pass per step, as the base optimizer.

    Where there is no buffer yet, at the first step or for a parameter that never had a
    gradient, :math:`\epsilon = 0` there: the first step is a plain base step. A base
    optimizer without momentum (SGD with ``momentum=0``, Adagrad, ...) keeps no buffer at
    all and is refused.

    Differences from the authors' code, which keeps the weights at :math:`w + \epsilon`
    between steps: here the weights are restored to :math:`w` after every pass (by copy,
    as everywhere in :mod:`fgsam.optim`), so evaluation and checkpoints see :math:`w`.
    The one pass is the only one of the step, so it updates BatchNorm running
    statistics, and :meth:`step` returns its loss, :math:`L(w + \epsilon)`: computing
    :math:`L(w)` would cost the extra forward pass this method exists to avoid. The paper
    uses :math:`\rho = 3` on ResNets and ViTs (fifteen times its SAM radius of 0.2); the
    default 0.3 is a smaller radius for the much smaller weights of GNNs: tune it as
    SAM's.

    Args:
        params (iterable): parameters or parameter groups (a group may set ``rho`` and
            ``perturb``).
        base_optimizer (type or str): a base optimizer with momentum, e.g.
            :class:`torch.optim.Adam` or ``"sgd"`` with ``momentum > 0``.
        rho (float, optional): radius :math:`\rho`. (default: ``0.3``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ``momentum``, ...). ``sync_ascent`` here: accepted for a
            uniform interface, without effect: the one pass enters :math:`d`, so it is
            always synchronised.

    Example:
        >>> opt = MomentumSAM(model.parameters(), "sgd", rho=0.3, lr=0.1, momentum=0.9)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> loss = opt.step(closure)  # the loss at w + eps
    """

    name = "msam"
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.3,
                 **kwargs: Any) -> None:
        super().__init__(params, base_optimizer, rho, **kwargs)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if "betas" in group or group.get("momentum", 0) > 0:
            return
        raise ValueError(
            f"msam perturbs along the base optimizer's momentum, but "
            f"{type(self.base_optimizer).__name__} with momentum={group.get('momentum')!r} "
            f"keeps none; use SGD or RMSprop with momentum > 0, or Adam/AdamW/NAdam/RAdam"
        )

    def momentum(self) -> tuple[list[Tensor], list[Tensor], list[float]]:
        """``(params, buffers, rho per param)`` of perturbed parameters with a buffer."""
        params, buffers, rhos = [], [], []
        for group in self.param_groups:
            if not group["perturb"]:
                continue
            for p in group["params"]:
                state = self.base_optimizer.state.get(p, {})
                buf = next((state[k] for k in MOMENTUM_KEYS if state.get(k) is not None), None)
                if buf is not None:
                    params.append(p)
                    buffers.append(buf)
                    rhos.append(group["rho"])
        return params, buffers, rhos

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One Momentum-SAM step; returns the loss at :math:`w + \\epsilon`."""
        params, buffers, rhos = self.momentum()
        if params:
            norm = global_norm(buffers)
            eps = [
                b * (-rho / (norm.to(b.device) + EPS))
                for b, rho in zip(buffers, rhos, strict=True)
            ]
            self.perturb(params, eps)
        losses: dict[str, Tensor] = {}
        # The only pass of the step: it is the one that tracks BatchNorm statistics.
        self.descent_pass(closure, losses, scaler, perturbed=False)
        return losses[DESCENT]


__all__ = ["MomentumSAM"]
