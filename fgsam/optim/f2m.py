"""F2M: flat-minimum base training by weight noise, then fine-tuning clamped around it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import (
    SharpnessAwareOptimizer,
    check_non_negative,
    check_positive_int,
)
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.typing import BaseOptimizer, Closure, Params, Seed


class F2M(SeededMixin, SharpnessAwareOptimizer):
    r"""F2M from `"Overcoming Catastrophic Forgetting in Incremental Few-Shot Learning
    by Finding Flat Minima" <https://arxiv.org/abs/2111.01549>`_ (Shi et al., NeurIPS
    2021): a training procedure with two phases, wrapped as an optimizer.

    **Base training** minimises the loss averaged over :math:`M` uniform weight-noise
    samples, so that the minimum found is flat within a box of half-width
    :math:`\delta`:

    .. math::
        b_m \sim \mathcal U(-\delta, \delta)^{\dim w}, \qquad
        d = \frac1M \sum_{m=1}^{M} \nabla L(w + b_m), \qquad w \leftarrow \mathrm{Base}(w, d).

    **Incremental sessions** (after :meth:`anchor`, which records the current weights
    :math:`w^*`) fine-tune with plain steps, every weight clamped into
    :math:`[w^* - \delta, w^* + \delta]` after each step, so the model stays inside the
    flat region and remembers the base classes. :meth:`clamp_` applies the clamp on
    demand, e.g. to weights stepped by another optimizer.

    :math:`\delta` is the group's ``rho``; groups with ``perturb=False`` get no noise and
    are never clamped (the authors perturb and clamp a subset of layers: give the rest
    such a group). Cost: :math:`M` forward/backward passes per base-training step, one
    per fine-tuning step. It is not in the registry of optimizers: it is a procedure
    (expose it as a method option of a training command).

    Draw order from ``generator``: for each noise sample in turn, one ``torch.rand`` of
    each parameter's shape (its dtype), mapped to :math:`\delta (2U - 1)`, for every
    parameter that requires a gradient in a ``perturb=True`` group, in group order.
    Parameters the loss does not use get no gradient and are not updated. The first pass
    of a step updates BatchNorm running statistics, the others do not. :meth:`step`
    returns the mean of the :math:`M` noisy losses in base training and :math:`L(w)`
    when anchored. Defaults from the authors' CIFAR-100 configuration:
    :math:`\delta = 0.01`, :math:`M = 2`. Their code adds a prototype-fixing loss and a
    penalty on the spread of the noisy losses; those belong to the closure.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): the noise bound and clamp half-width :math:`\delta`.
            (default: ``0.01``)
        num_samples (int, optional): the number of noise samples :math:`M`.
            (default: ``2``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...). ``sync_ascent`` here: accepted for a uniform interface,
            without effect: every pass enters :math:`d`, so all are synchronised.

    Example:
        >>> opt = F2M(model.parameters(), "sgd", rho=0.01, num_samples=2, lr=0.1,
        ...           momentum=0.9, generator=0)
        >>> for batch in base_classes:          # base training: noisy steps
        ...     opt.step(lambda: F.cross_entropy(model(batch.x), batch.y))
        >>> opt.anchor()                        # w* = the flat minimum
        >>> for batch in novel_classes:         # sessions: plain steps, clamped
        ...     opt.step(lambda: F.cross_entropy(model(batch.x), batch.y))
    """

    name = "f2m"
    hyperparameters = ("num_samples", "anchored")
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.01,
                 num_samples: int = 2, generator: Seed = None, **kwargs: Any) -> None:
        check_positive_int("num_samples", num_samples)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.num_samples = num_samples
        self.init_generator(generator)
        self.global_state["anchored"] = False

    @property
    def anchored(self) -> bool:
        """Whether :meth:`anchor` was called (fine-tuning sessions: clamped plain steps)."""
        return bool(self.global_state["anchored"])

    def clamped(self) -> list[tuple[Tensor, float]]:
        """``(param, delta)`` for the parameters of ``perturb=True`` groups."""
        return [
            (p, float(group["rho"]))
            for group in self.param_groups
            if group["perturb"]
            for p in group["params"]
        ]

    # ------------------------------------------------------------------ steps
    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """A noise-averaged step, or a clamped plain step once anchored."""
        if self.anchored:
            return self._clamped_step(closure, scaler)
        noisy = [(p, delta) for p, delta in self.clamped() if p.requires_grad]
        params = [p for p, _ in noisy]
        losses: dict[str, Tensor] = {}
        sums: dict[Tensor, Tensor] = {}
        for m in range(self.num_samples):
            noise = [(self.uniform(p) * 2 - 1) * delta for p, delta in noisy]
            self.perturb(params, noise)
            name = f"noisy {m + 1}"
            losses[name] = self.loss_and_grad(
                closure, name, perturbed=m > 0, scaler=scaler, unscale=False
            )
            self.restore_weights()
            for p in self.params_with_grad():
                if p in sums:
                    sums[p].add_(p.grad)
                else:
                    sums[p] = p.grad.clone()
        mean = torch.stack([v.reshape(()) for v in losses.values()]).mean()
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
            return mean
        for p, total in sums.items():
            p.grad = total / self.num_samples
        self.descend(scaler)
        return mean

    def _clamped_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        losses: dict[str, Tensor] = {}
        if self.descent_pass(closure, losses, scaler, "fine-tuning", perturbed=False):
            self.clamp_()
        return losses["fine-tuning"]

    # -------------------------------------------------------------- sessions
    @no_grad
    def anchor(self, reference: Sequence[Tensor] | None = None) -> None:
        """Start clamped fine-tuning around ``reference`` (default: the current weights).

        ``reference`` lists one tensor per parameter of the ``perturb=True`` groups, in
        group order. It is kept in ``state[p]["f2m_reference"]`` (saved with the
        optimizer); from now on :meth:`step` takes plain steps and clamps.
        """
        params = [p for p, _ in self.clamped()]
        if reference is None:
            reference = params
        reference = list(reference)
        if len(reference) != len(params) or any(
            r.shape != p.shape for r, p in zip(reference, params, strict=False)
        ):
            raise ValueError(
                f"reference must hold one tensor per clamped parameter with its shape: "
                f"expected {[tuple(p.shape) for p in params]}, got "
                f"{[tuple(r.shape) for r in reference]}"
            )
        for p, r in zip(params, reference, strict=True):
            self.state[p]["f2m_reference"] = r.detach().to(p).clone()
        self.global_state["anchored"] = True

    @no_grad
    def clamp_(
        self, reference: Sequence[Tensor] | None = None, delta: float | None = None
    ) -> None:
        """Clamp every weight of the ``perturb=True`` groups into
        :math:`[w^* - \\delta, w^* + \\delta]`.

        Args:
            reference (list of Tensor, optional): :math:`w^*`, one tensor per parameter
                in group order; default: the one recorded by :meth:`anchor`.
            delta (float, optional): half-width; default: each group's ``rho``.
        """
        if delta is not None:
            check_non_negative("delta", delta)
        pairs = self.clamped()
        if reference is None:
            missing = [i for i, (p, _) in enumerate(pairs) if "f2m_reference" not in self.state[p]]
            if missing:
                raise RuntimeError(
                    "clamp_ needs the reference weights: call anchor() first or pass reference="
                )
            reference = [self.state[p]["f2m_reference"] for p, _ in pairs]
        reference = list(reference)
        if len(reference) != len(pairs):
            raise ValueError(
                f"reference must hold {len(pairs)} tensors (one per clamped parameter), "
                f"got {len(reference)}"
            )
        for (p, rho), ref in zip(pairs, reference, strict=True):
            half = rho if delta is None else delta
            ref = ref.to(p)
            p.clamp_(ref - half, ref + half)



__all__ = ["F2M"]
