"""ESAM: stochastic weight perturbation and sharpness-sensitive data selection."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import SharpnessAwareOptimizer, check_range
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.typing import BaseOptimizer, Closure, Params, Seed


class ESAM(SeededMixin, SharpnessAwareOptimizer):
    r"""Efficient SAM from `"Efficient Sharpness-aware Minimization for Improved Training
    of Neural Networks" <https://arxiv.org/abs/2110.03141>`_ (Du et al., ICLR 2022).

    Stochastic weight perturbation: each perturbed parameter tensor :math:`j` is perturbed
    with probability :math:`\beta` (:math:`m_j \sim \mathrm{Bernoulli}(\beta)`) and the
    perturbation divided by :math:`\beta`. Sharpness-sensitive data selection: the descent
    uses the :math:`\gamma` fraction of the samples whose loss rose most under
    :math:`\epsilon`:

    .. math::
        \epsilon_j = \frac{m_j}{\beta}\, \rho\, \frac{g_j}{\lVert g \rVert + 10^{-12}},
        \qquad
        S = \mathrm{top}_{\lfloor \gamma B \rfloor}\big(\ell_i(w + \epsilon) - \ell_i(w)\big),
        \qquad
        w \leftarrow \mathrm{Base}\Big(w, \nabla \tfrac{1}{|S|}
        \textstyle\sum_{i \in S} \ell_i(w + \epsilon)\Big),

    with :math:`g = \nabla L(w)`, :math:`L` the mean of the :math:`B` per-sample losses
    :math:`\ell_i` and :math:`|S| \ge 1`. :math:`\beta = \gamma = 1` is SAM.

    Closure protocol: :attr:`per_sample_loss` is ``True``. When the closure returns a
    vector of per-sample losses, the ascent uses its mean and the descent the mean over
    :math:`S`; when it returns a scalar (and in :meth:`first_step` /
    :meth:`second_step`), there is no data selection. Both passes evaluate every sample
    (graph models need the whole graph anyway); only the descent's backward is restricted
    to :math:`S`. Draw order from ``generator``: one ``torch.rand`` per perturbed tensor
    with a gradient (in parameter-group order) each step; :math:`m_j = [u_j < \beta]`.
    The generator state is saved in ``global_state``. Cost: 2 forward/backward passes
    per step. The defaults :math:`\beta = 0.6`, :math:`\gamma = 0.5` are the authors'
    CIFAR ResNet-18 setting.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        beta (float, optional): probability :math:`\beta \in (0, 1]` that a tensor is
            perturbed. (default: ``0.6``)
        gamma (float, optional): fraction :math:`\gamma \in (0, 1]` of the samples the
            descent uses. (default: ``0.5``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = ESAM(model.parameters(), "sgd", rho=0.05, beta=0.6, gamma=0.5, lr=0.05)
        >>> # per-sample losses: reduction="none"
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, ei)[m], y[m], reduction="none"))
    """

    name = "esam"
    hyperparameters = ("beta", "gamma")
    per_sample_loss = True

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 beta: float = 0.6, gamma: float = 0.5, generator: Seed = None,
                 **kwargs: Any) -> None:
        check_range("beta", beta, 0.0, 1.0, low_open=True)
        check_range("gamma", gamma, 0.0, 1.0, low_open=True)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.init_generator(generator)

    def pass_closures(
        self, closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> tuple[Closure, Closure]:
        """The ascent keeps the per-sample losses at :math:`w` and returns their mean;
        the descent returns the mean over the selected samples."""
        before: list[Tensor] = []

        def ascent() -> Tensor:
            loss = closure()
            if isinstance(loss, Tensor) and loss.ndim == 1:
                before.append(loss.detach())
                return loss.mean()
            return loss

        def descent() -> Tensor:
            loss = closure()
            if not isinstance(loss, Tensor) or loss.ndim != 1:
                return loss
            chosen = self.select(before[0], loss.detach()) if before else None
            return loss.mean() if chosen is None else loss[chosen].mean()

        return ascent, descent

    def select(self, before: Tensor, after: Tensor) -> Tensor | None:
        """Indices of the :math:`\\max(1, \\lfloor \\gamma B \\rfloor)` samples whose loss
        rose most (``None``: all of them)."""
        if before.shape != after.shape:
            raise ValueError(
                f"ESAM: the closure returned {tuple(before.shape)} per-sample losses in the "
                f"ascent pass but {tuple(after.shape)} in the descent pass; both passes must "
                f"evaluate the same samples"
            )
        count = max(1, math.floor(self.gamma * after.numel() + 1e-9))
        if count >= after.numel():
            return None
        return torch.topk(after - before, count).indices

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Perturb a random subset of the tensors (no data selection here); ``False``
        (nothing moved) if ``check_overflow`` and the gradient is not finite."""
        opening = self.ascent_gradients(check_overflow)
        if opening is None:
            return False
        groups, _, norm = opening
        chosen = iter((self.draws(sum(len(ps) for _, ps in groups)) < self.beta).tolist())
        kept = [(group, [p for p in ps if next(chosen)]) for group, ps in groups]
        self.perturb_along(kept, [p.grad for _, ps in kept for p in ps], norm, self.beta)
        return True



__all__ = ["ESAM"]
