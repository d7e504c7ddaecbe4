"""Tilted SAM: gradients at several random perturbations, weighted by exp(t · loss)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from fgsam.optim.base import (
    SharpnessAwareOptimizer,
    check_non_negative,
    check_positive_int,
)
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import EPS, global_norm
from fgsam.typing import BaseOptimizer, Closure, Params, Seed


def worker_mean(values: Tensor, model: torch.nn.Module | None) -> Tensor:
    """``values`` averaged over the workers when ``model`` is DDP-wrapped (all workers
    must weight their perturbations alike), unchanged otherwise."""
    ddp = isinstance(model, torch.nn.parallel.DistributedDataParallel)
    if not (ddp and dist.is_available() and dist.is_initialized()):
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / dist.get_world_size()


def tilted_loss(losses: Tensor, tilt: float) -> Tensor:
    r""":math:`\frac1t \log \frac1S \sum_s e^{t L_s}` (the mean when :math:`t = 0`)."""
    if tilt == 0:
        return losses.mean()
    return (torch.logsumexp(tilt * losses, 0) - math.log(losses.numel())) / tilt


class TiltedSum:
    r"""A running :math:`\sum_s \operatorname{softmax}_s(t L_s)\, g_s` over tensor lists.

    Keeps :math:`m = \max_s t L_s`, :math:`Z = \sum_s e^{t L_s - m}` and
    :math:`\sum_s e^{t L_s - m} g_s`, rescaling when :math:`m` grows (a streaming
    log-sum-exp), so one buffer per parameter holds the sum for any number of samples.
    """

    def __init__(self, tilt: float) -> None:
        self.tilt = tilt
        self.max: Tensor | None = None
        self.total: Tensor | None = None
        self.sums: dict[Tensor, Tensor] = {}

    def add(self, loss: Tensor, params: list[Tensor]) -> None:
        """Add the sample of loss ``loss`` whose gradients are in ``p.grad``."""
        tl = loss * self.tilt
        if self.max is None or self.total is None:
            self.max, self.total, coef = tl, torch.ones_like(tl), torch.ones_like(tl)
        else:
            new_max = torch.maximum(self.max, tl)
            shrink, coef = torch.exp(self.max - new_max), torch.exp(tl - new_max)
            self.max, self.total = new_max, self.total * shrink + coef
            for v in self.sums.values():
                v.mul_(shrink.to(v.device))
        for p in params:
            g = p.grad * coef.to(p.device)
            if p in self.sums:
                self.sums[p].add_(g)
            else:
                self.sums[p] = g

    def write_grads(self) -> None:
        """``p.grad`` ← the weighted sum, for every parameter that had a gradient."""
        for p, v in self.sums.items():
            p.grad = v / self.total.to(v.device)  # type: ignore[union-attr]


class TiltedSAM(SeededMixin, SharpnessAwareOptimizer):
    r"""First-order Tilted SAM from `"Tilted Sharpness-Aware Minimization"
    <https://arxiv.org/abs/2410.22656>`_ (Li, Zhou & Bilmes, ICML 2025).

    TSAM minimises the tilted loss :math:`\frac1t \log \mathbb E_\epsilon e^{t L(w +
    \epsilon)}`, which is the average loss as :math:`t \to 0` and SAM as :math:`t \to
    \infty`. Its gradient is estimated from :math:`S` sampled perturbations:

    .. math::
        d = \sum_{s=1}^{S} \operatorname{softmax}_s\big(t L(w + \epsilon_s)\big)\,
        \nabla L(w + \epsilon_s), \qquad w \leftarrow \mathrm{Base}(w, d).

    Each perturbation is drawn as in the authors' public implementation (their
    Hamiltonian-dynamics-inspired sampler with one step): a Gaussian direction clipped
    to a ball, followed by one normalised gradient-ascent step,

    .. math::
        z_s \sim \mathcal N(0, I), \quad \delta_s = z_s \frac{\min(\lVert z_s \rVert,
        r)}{\lVert z_s \rVert}, \quad \epsilon_s = \delta_s + \rho\, \frac{\nabla L(w +
        \delta_s)}{\lVert \nabla L(w + \delta_s) \rVert + 10^{-12}}

    (``ascent=False`` keeps :math:`\epsilon_s = \delta_s`). Cost: :math:`S (1 +`
    ``ascent``:math:`)` forward/backward passes per step, 6 with the defaults. The tilt
    weights are accumulated online (a running log-sum-exp), so memory is one extra copy
    of the gradients whatever :math:`S`.

    Draw order from ``generator``: for each sample in turn, one ``torch.randn`` of each
    parameter's shape (its dtype) for every parameter that requires a gradient in a
    ``perturb=True`` group, in group order. Parameters the loss does not use are moved
    and restored with the others but get no gradient and are not updated. The first pass
    of a step updates BatchNorm running statistics, the others do not. Under DDP the
    losses are averaged over the workers before weighting (give every worker the same
    ``generator`` seed). :meth:`step` returns the tilted loss estimate
    :math:`\frac1t \log \frac1S \sum_s e^{t L(w + \epsilon_s)}` (no pass is made at
    :math:`w`). Defaults from the authors' code: :math:`S = 3`, :math:`t = 1`,
    :math:`r = 1`, :math:`\rho = 0.05`.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho` of the ascent step. (default: ``0.05``)
        tilt (float, optional): the tilt :math:`t \ge 0`. (default: ``1.0``)
        num_samples (int, optional): the number of perturbations :math:`S`.
            (default: ``3``)
        noise_radius (float, optional): the clipping radius :math:`r \ge 0` of the
            Gaussian part. (default: ``1.0``)
        ascent (bool, optional): add the gradient-ascent step to each perturbation.
            (default: ``True``)
        generator (int or torch.Generator, optional): the draws' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ...). ``sync_ascent`` here: all-reduce the ascent gradients
            under DDP.

    Example:
        >>> opt = TiltedSAM(model.parameters(), "sgd", rho=0.05, tilt=1.0, num_samples=3,
        ...                 generator=0, lr=0.1, momentum=0.9)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> tilted = opt.step(closure)
    """

    name = "tsam"
    hyperparameters = ("tilt", "num_samples", "noise_radius", "ascent")
    manual_steps = False

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 tilt: float = 1.0, num_samples: int = 3, noise_radius: float = 1.0,
                 ascent: bool = True, generator: Seed = None, **kwargs: Any) -> None:
        check_non_negative("tilt", tilt)
        check_positive_int("num_samples", num_samples)
        check_non_negative("noise_radius", noise_radius)
        if not isinstance(ascent, bool):
            raise ValueError(f"ascent must be True or False, got {ascent!r}")
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.tilt = float(tilt)
        self.num_samples = num_samples
        self.noise_radius = float(noise_radius)
        self.ascent = ascent
        self.init_generator(generator)

    def candidates(self) -> list[Tensor]:
        """Parameters that require a gradient in ``perturb=True`` groups (drawn for)."""
        return [
            p
            for group in self.param_groups
            if group["perturb"]
            for p in group["params"]
            if p.requires_grad
        ]

    def noise(self, params: list[Tensor]) -> list[Tensor]:
        """:math:`\\delta`: a Gaussian draw clipped to the ball of radius ``noise_radius``."""
        z = [self.normal(p) for p in params]
        if not z:
            return z
        norm = global_norm(z)
        factor = norm.clamp(max=self.noise_radius) / norm
        return [zi * factor.to(zi.device) for zi in z]

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One TSAM step; returns the tilted loss of the sampled perturbations."""
        params = self.candidates()
        losses: dict[str, Tensor] = {}
        values: list[Tensor] = []
        total = TiltedSum(self.tilt)
        for s in range(self.num_samples):
            self.perturb(params, self.noise(params))
            if self.ascent:
                name = f"noisy {s + 1}"
                losses[name] = self.loss_and_grad(
                    closure, name, perturbed=s > 0, sync=self.sync_ascent, scaler=scaler
                )
                if not self.ascend(check_overflow=scaler is not None):
                    self.skip_step(scaler)
                    return losses[name]
            name = f"perturbed {s + 1}"
            # Kept scaled (one factor for the whole step): descend() unscales the sum.
            losses[name] = self.loss_and_grad(
                closure, name, perturbed=self.ascent or s > 0, scaler=scaler, unscale=False
            )
            self.restore_weights()
            values.append(worker_mean(losses[name].reshape(1), self.model)[0])
            total.add(values[-1], self.params_with_grad())
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
        else:
            total.write_grads()
            self.descend(scaler)
        return tilted_loss(torch.stack(values), self.tilt)

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Add :math:`\\rho \\hat g` (``.grad``, per-group ``rho``) to the moved weights."""
        opening = self.ascent_gradients(check_overflow)
        if opening is None:
            return False
        groups, _, norm = opening
        for group, ps in groups:
            factor = group["rho"] / (norm + EPS)
            torch._foreach_add_(ps, [p.grad * factor.to(p.device) for p in ps])
        return True



__all__ = ["TiltedSAM", "TiltedSum", "tilted_loss", "worker_mean"]
