"""Sparse SAM: the perturbation restricted to a binary mask (Fisher mask or dynamic mask)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import SharpnessAwareOptimizer, check_positive_int, check_range
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import EPS
from fgsam.typing import BaseOptimizer, Closure, Params, Seed

#: The key of the mask (0/1 in the parameter's dtype) in ``state[p]``.
MASK = "ssam_mask"


class _SparseSAM(SeededMixin, SharpnessAwareOptimizer):
    """The shared SSAM step: :math:`\\epsilon = \\rho (m \\odot g) / \\lVert g \\rVert`."""

    ascent_keeps_state = True
    hyperparameters: tuple[str, ...] = ("sparsity", "update_interval")

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float, sparsity: float,
                 update_interval: int, generator: Seed, **kwargs: Any) -> None:
        check_range("sparsity", sparsity, 0.0, 1.0)
        check_positive_int("update_interval", update_interval)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.sparsity = float(sparsity)
        self.update_interval = update_interval
        self.init_generator(generator)
        #: The step at which the mask was last updated (-1: never).
        self.global_state["mask_step"] = -1

    # ------------------------------------------------------------------- step
    def pass_closures(
        self, closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> tuple[Closure, Closure]:
        """Both passes call :meth:`wrap_closure`'s closure."""
        wrapped = self.wrap_closure(closure, self.mask_due(), self.grad_scale(scaler))
        return wrapped, wrapped

    def mask_due(self) -> bool:
        """Whether this step updates the mask (every ``update_interval`` steps)."""
        t, last = self.global_state["step"], self.global_state["mask_step"]
        return last < 0 or (t % self.update_interval == 0 and last != t)

    def wrap_closure(self, closure: Closure, due: bool, scale: float) -> Closure:
        """The closure as the passes call it (SSAM-F reads per-sample losses here)."""
        return closure

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Update the mask if due (:meth:`mask_due`) and perturb.

        ``False`` (nothing changed) if ``check_overflow`` and the gradient is not finite;
        :meth:`step` checks the loss and the gradient before the mask is built from it.
        """
        opening = self.ascent_gradients(check_overflow)
        if opening is None:
            return False
        groups, params, norm = opening
        grads = [p.grad for p in params]
        if params and (self.mask_due() or any(MASK not in self.state[p] for p in params)):
            self.update_mask(params)
            self.global_state["mask_step"] = self.global_state["step"]
        masked = [g * self.state[p][MASK] for p, g in zip(params, grads)]
        self.perturb(params, self.group_scaled(groups, masked, 1.0 / (norm + EPS)))
        return True

    # ------------------------------------------------------------------- masks
    def update_mask(self, params: list[Tensor]) -> None:
        raise NotImplementedError

    def num_kept(self, n: int) -> int:
        """Entries kept by the mask out of ``n``: :math:`n - \\lceil s n \\rceil`."""
        return n - math.ceil(round(self.sparsity * n, 9))

    @staticmethod
    def flat(tensors: list[Tensor]) -> Tensor:
        device = tensors[0].device
        return torch.cat([t.reshape(-1).to(device) for t in tensors])

    def store_mask(self, params: list[Tensor], flat_mask: Tensor) -> None:
        """Split a flat boolean mask over ``params`` into ``state[p][MASK]``."""
        chunks = torch.split(flat_mask, [p.numel() for p in params])
        for p, chunk in zip(params, chunks):
            self.state[p][MASK] = chunk.reshape(p.shape).to(device=p.device, dtype=p.dtype)

    def keep_largest(self, params: list[Tensor], scores: list[Tensor]) -> None:
        """Keep the :meth:`num_kept` entries of largest score."""
        flat = self.flat(scores)
        mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        mask[torch.topk(flat, self.num_kept(flat.numel())).indices] = True
        self.store_mask(params, mask)

    def density(self) -> float:
        """The fraction of masked-in entries over all parameters that have a mask."""
        masks = [s[MASK] for s in self.state.values() if MASK in s]
        total = sum(m.numel() for m in masks)
        return float(sum(float(m.sum()) for m in masks) / total) if total else float("nan")



class SSAMF(_SparseSAM):
    r"""Sparse SAM with the Fisher mask (SSAM-F) from `"Make Sharpness-Aware Minimization
    Stronger: A Sparsified Perturbation Approach" <https://arxiv.org/abs/2210.05177>`_
    (Mi et al., NeurIPS 2022).

    Only the entries with the largest empirical Fisher information are perturbed:

    .. math::
        F = \sum_{i \in S} (\nabla \ell_i(w))^2, \qquad
        m = \mathrm{top}_{K}(F), \qquad
        \epsilon = \rho\, (m \odot g) / (\lVert g \rVert + 10^{-12}), \qquad
        w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`g = \nabla L(w)` (the full gradient's norm, as in the paper), :math:`K = N
    - \lceil s N \rceil` of the :math:`N` perturbed entries kept (global over all
    perturbed parameters), and the mask recomputed every ``update_interval`` steps,
    starting at the first one.

    Closure protocol: :attr:`per_sample_loss` is ``True``. When the closure returns a
    vector of per-sample losses :math:`\ell_i`, the passes use its mean, and on mask
    updates :math:`S` is ``min(num_samples, len(vector))`` samples drawn without
    replacement (one ``torch.randperm`` of the batch size from ``generator``), each
    back-propagated on its own (``torch.autograd.grad`` through the same forward pass).
    When the closure returns a scalar there are no single-sample gradients and
    :math:`F = g^2`, the squared batch gradient (also the case for :meth:`first_step`).

    The mask (0/1 in the parameter's dtype) is ``state[p]["ssam_mask"]``; the generator
    state is saved in ``global_state``. Cost: 2 forward/backward passes per step, plus
    ``num_samples`` backward passes every ``update_interval`` steps with a per-sample
    closure. The authors update the mask every 5 epochs from 1024 CIFAR images; the
    defaults here count optimizer steps.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        sparsity (float, optional): fraction :math:`s \in [0, 1]` of entries *not*
            perturbed. (default: ``0.5``)
        num_samples (int, optional): single-sample gradients :math:`N_F` per mask
            update. (default: ``16``)
        update_interval (int, optional): steps :math:`T_m` between mask updates.
            (default: ``100``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = SSAMF(model.parameters(), "sgd", rho=0.1, sparsity=0.5, generator=0, lr=0.05)
        >>> def closure():  # per-sample losses: reduction="none"
        ...     out = model(data.x, data.edge_index)[mask]
        ...     return F.cross_entropy(out, data.y[mask], reduction="none")
        >>> loss = opt.step(closure)
    """

    name = "ssam-f"
    hyperparameters = ("sparsity", "num_samples", "update_interval")
    per_sample_loss = True

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 sparsity: float = 0.5, num_samples: int = 16, update_interval: int = 100,
                 generator: Seed = None, **kwargs: Any) -> None:
        check_positive_int("num_samples", num_samples)
        super().__init__(
            params, base_optimizer, rho, sparsity, update_interval, generator, **kwargs,
        )
        self.num_samples = num_samples
        self._fisher: dict[Tensor, Tensor] | None = None

    def clear_step_buffers(self) -> None:
        super().clear_step_buffers()
        self._fisher = None

    def wrap_closure(self, closure: Closure, due: bool, scale: float) -> Closure:
        self._fisher = None
        calls = []

        def wrapped() -> Tensor:
            loss = closure()
            if not isinstance(loss, Tensor) or loss.ndim != 1:
                return loss
            if due and not calls:  # the first (ascent) pass only
                self._fisher = self.per_sample_fisher(loss, scale)
            calls.append(True)
            return loss.mean()

        return wrapped

    def per_sample_fisher(self, losses: Tensor, scale: float) -> dict[Tensor, Tensor]:
        """:math:`\\sum_i (\\nabla \\ell_i)^2` over the drawn samples, by parameter.

        ``scale`` (a GradScaler's factor) only guards against underflow; the ranking
        does not depend on it.
        """
        params = [
            p for g in self.param_groups if g["perturb"] for p in g["params"] if p.requires_grad
        ]
        if not params:
            return {}
        n = min(self.num_samples, losses.numel())
        order = self.permutation(losses.numel())[:n]
        fisher: dict[Tensor, Tensor] = {}
        for i in order.tolist():
            sample = losses[i] if scale == 1.0 else losses[i] * scale
            grads = torch.autograd.grad(sample, params, retain_graph=True, allow_unused=True)
            for p, g in zip(params, grads):
                if g is not None:
                    sq = g.detach() * g.detach()
                    fisher[p] = fisher[p].add_(sq) if p in fisher else sq
        return fisher

    def update_mask(self, params: list[Tensor]) -> None:
        fisher = self._fisher
        if fisher is None:  # scalar closure or manual steps: the squared batch gradient
            scores = [p.grad * p.grad for p in params]
        else:
            scores = [fisher[p] if p in fisher else torch.zeros_like(p) for p in params]
        self.keep_largest(params, scores)
        self._fisher = None



class SSAMD(_SparseSAM):
    r"""Sparse SAM with the dynamic sparse mask (SSAM-D) from `"Make Sharpness-Aware
    Minimization Stronger: A Sparsified Perturbation Approach"
    <https://arxiv.org/abs/2210.05177>`_ (Mi et al., NeurIPS 2022).

    .. math::
        \epsilon = \rho\, (m \odot g) / (\lVert g \rVert + 10^{-12}), \qquad
        w \leftarrow \mathrm{Base}\big(w, \nabla L(w + \epsilon)\big),

    with :math:`g = \nabla L(w)`. The mask :math:`m` keeps :math:`K = N - \lceil s N
    \rceil` of the :math:`N` perturbed entries (global over all perturbed parameters). It
    starts random (the :math:`K` largest of :math:`N` uniform draws) at the first step,
    and at every later step :math:`t` with :math:`t \bmod T_m = 0` (before the
    perturbation) the :math:`\lfloor r_t K \rfloor` kept entries with the smallest
    :math:`|g|` are dropped and as many of the previously unkept entries regrown at
    random (the largest of :math:`N` fresh uniform draws among them), with the cosine
    drop rate

    .. math::
        r_t = r_0 \, \big(1 + \cos(\pi \min(t, T) / T)\big) / 2

    over ``total_steps`` :math:`T`; without ``total_steps`` the rate stays at the
    schedule's mean :math:`r_0 / 2`. Draw order from ``generator``: one
    ``torch.rand(N)`` when the mask is created and one at every update. The mask is
    ``state[p]["ssam_mask"]``; the generator state is saved in ``global_state``.
    Cost: 2 forward/backward passes per step.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        sparsity (float, optional): fraction :math:`s \in [0, 1]` of entries *not*
            perturbed. (default: ``0.5``)
        drop_rate (float, optional): initial drop rate :math:`r_0 \in [0, 1]`.
            (default: ``0.5``)
        update_interval (int, optional): steps :math:`T_m` between mask updates.
            (default: ``100``)
        total_steps (int, optional): length :math:`T` of the cosine schedule, usually the
            number of training steps. (default: ``None``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = SSAMD(model.parameters(), "sgd", rho=0.1, total_steps=5000, generator=0,
        ...             lr=0.05)
        >>> loss = opt.step(lambda: F.cross_entropy(model(x, edge_index)[m], y[m]))
    """

    name = "ssam-d"
    hyperparameters = ("sparsity", "drop_rate", "update_interval", "total_steps")

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 sparsity: float = 0.5, drop_rate: float = 0.5, update_interval: int = 100,
                 total_steps: int | None = None, generator: Seed = None, **kwargs: Any) -> None:
        check_range("drop_rate", drop_rate, 0.0, 1.0)
        if total_steps is not None:
            check_positive_int("total_steps", total_steps)
        super().__init__(
            params, base_optimizer, rho, sparsity, update_interval, generator, **kwargs,
        )
        self.drop_rate = float(drop_rate)
        self.total_steps = total_steps

    def drop_rate_at(self, t: int) -> float:
        """The drop rate :math:`r_t` at step ``t``."""
        if self.total_steps is None:
            return 0.5 * self.drop_rate
        progress = min(t, self.total_steps) / self.total_steps
        return self.drop_rate * (1.0 + math.cos(math.pi * progress)) / 2.0

    def update_mask(self, params: list[Tensor]) -> None:
        n = sum(p.numel() for p in params)
        device = params[0].device
        if any(MASK not in self.state[p] for p in params):
            self.keep_largest(params, [self.draws(n, device)])
            return
        mask = self.flat([self.state[p][MASK] for p in params]).bool()
        kept = int(mask.sum())
        n_drop = min(int(self.drop_rate_at(self.global_state["step"]) * kept), n - kept)
        draws = self.draws(n, device)
        if n_drop > 0:
            magnitude = self.flat([p.grad.abs() for p in params])
            drop = torch.topk(magnitude.masked_fill(~mask, math.inf), n_drop, largest=False)
            grow = torch.topk(draws.masked_fill(mask, -1.0), n_drop)
            mask[drop.indices] = False
            mask[grow.indices] = True
        self.store_mask(params, mask)



__all__ = ["SSAMD", "SSAMF"]
