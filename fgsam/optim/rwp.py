"""m-RWP: a random, filter-scaled weight perturbation mixed with the plain gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import ASCENT, SharpnessAwareOptimizer, check_range
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import global_norm
from fgsam.typing import BaseOptimizer, Closure, Params, Seed


def filter_norms(w: Tensor) -> Tensor:
    """:math:`\\lVert w_{\\mathrm{filter}} \\rVert` broadcast to ``w``'s shape: the norm of
    each output filter (slice along dim 0) for tensors of two or more dimensions, the
    norm of the whole tensor for vectors and scalars."""
    if w.ndim < 2:
        return torch.linalg.vector_norm(w).expand_as(w)
    norms = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1)
    return norms.reshape((-1,) + (1,) * (w.ndim - 1)).expand_as(w)


class RWP(SeededMixin, SharpnessAwareOptimizer):
    r"""Mixed random weight perturbation (m-RWP) from `"Revisiting Random Weight
    Perturbation for Efficiently Improving Generalization"
    <https://arxiv.org/abs/2404.00357>`_ (Li et al., TMLR 2024).

    A Gaussian perturbation scaled per output filter replaces SAM's adversarial one, and
    the descent mixes the plain and the perturbed gradient:

    .. math::
        \epsilon \sim \mathcal N\big(0, \sigma^2 \operatorname{diag}(\lVert
        w_{\mathrm{filter}} \rVert^2)\big), \qquad
        d = \lambda \nabla L(w) + (1 - \lambda) \nabla L(w + \epsilon), \qquad
        w \leftarrow \mathrm{Base}(w, d),

    where :math:`\lVert w_{\mathrm{filter}} \rVert` is, for every weight, the norm of its
    output filter (the slice along the first dimension; a 1-D tensor such as a bias is
    one filter). :math:`\sigma` is the group's ``rho``. :math:`\lambda = 1` is the base
    optimizer. Cost: two forward/backward passes per step; they are independent (no
    normalised gradient is needed to perturb), so the authors run them on two devices,
    each on its own mini-batch: a closure that draws a fresh mini-batch on every call
    does the same here.

    Draw order from ``generator``: after the pass at :math:`w`, one ``torch.randn`` of
    each parameter's shape (its dtype), for the parameters with a gradient of every
    ``perturb=True`` group, in group order. The generator state is saved in
    ``global_state``. The pass at :math:`w` updates BatchNorm running statistics, the
    perturbed pass does not; :meth:`step` returns :math:`L(w)`. Defaults from the
    authors' code: :math:`\sigma = 0.01` (0.015 in their CIFAR-100 runs),
    :math:`\lambda = 0.5`.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): the relative noise scale :math:`\sigma`. (default: ``0.01``)
        lam (float, optional): weight :math:`\lambda \in [0, 1]` of the plain gradient.
            (default: ``0.5``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...). ``sync_ascent`` here: accepted for a uniform interface,
            without effect: both passes enter :math:`d`, so both are always synchronised.

    Example:
        >>> opt = RWP(model.parameters(), "sgd", rho=0.01, lam=0.5, generator=0, lr=0.1,
        ...           momentum=0.9)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> loss = opt.step(closure)
    """

    name = "rwp"
    hyperparameters = ("lam",)
    step_buffers = ("_clean",)

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.01,
                 lam: float = 0.5, generator: Seed = None, **kwargs: Any) -> None:
        check_range("lam", lam, 0.0, 1.0)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.lam = float(lam)
        self.init_generator(generator)
        self._clean: dict[Tensor, Tensor] = {}

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One m-RWP step; returns the loss at the unperturbed weights."""
        # Kept scaled, as the perturbed pass's gradient it is mixed with.
        losses = {ASCENT: self.loss_and_grad(closure, ASCENT, scaler=scaler, unscale=False)}
        self.ascend()  # the noise does not depend on the gradient: nothing to check yet
        self.descent_pass(closure, losses, scaler)
        return losses[ASCENT]

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Keep :math:`\\lambda \\nabla L(w)` from ``.grad`` and move to :math:`w + \\epsilon`;
        ``False`` (nothing changed) if ``check_overflow`` and the gradient is not finite."""
        kept = self.params_with_grad()
        if check_overflow and not bool(torch.isfinite(global_norm([p.grad for p in kept]))):
            return False
        self._clean = {p: p.grad * self.lam for p in kept}
        params, eps = [], []
        for group, ps in self.perturbed_groups():
            for p in ps:
                params.append(p)
                eps.append(self.normal(p) * filter_norms(p) * group["rho"])
        self.perturb(params, eps)
        return True

    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        self.mix()


    def mix(self) -> None:
        """``.grad`` ← :math:`\\lambda g + (1 - \\lambda)` ``.grad``."""
        for p in self.params_with_grad():
            p.grad.mul_(1.0 - self.lam)
        for p, clean in self._clean.items():
            if p.grad is None:
                p.grad = clean
            else:
                p.grad.add_(clean)
        self._clean = {}



__all__ = ["RWP", "filter_norms"]
