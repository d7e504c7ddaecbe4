"""Zeroth-order tilted SAM: forward passes only, so training needs the memory of inference."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from fgsam.optim.base import (
    ASCENT,
    SharpnessAwareOptimizer,
    check_loss,
    check_non_negative,
    check_positive_int,
)
from fgsam.optim.seeding import SeededMixin
from fgsam.optim.step_guard import no_grad
from fgsam.optim.tilted_sam import worker_mean
from fgsam.typing import BaseOptimizer, Closure, Params, Seed


class UsedParameters(TorchFunctionMode):
    """Records which of ``params`` enter a torch operation while the mode is active.

    This is how a forward-only method learns which parameters the loss depends on,
    without building an autograd graph.
    """

    def __init__(self, params: Iterable[Tensor]) -> None:
        super().__init__()
        self.watched = {id(p) for p in params}
        self.seen: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        for arg in tree_flatten((args, kwargs))[0]:
            if id(arg) in self.watched:
                self.seen.add(id(arg))
        return func(*args, **kwargs)


def global_rng_rewinder() -> Callable[[], None]:
    """A function that puts the global generators (CPU, and CUDA if in use) back to
    their state now, so that every evaluation of a closure draws the same dropout masks;
    after the last one the global state is as after a single evaluation."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def rewind() -> None:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    return rewind


class ZerothOrderTiltedSAM(SeededMixin, SharpnessAwareOptimizer):
    r"""Zeroth-order tilted SAM from `"Zeroth-Order Sharpness-Aware Learning with
    Exponential Tilting" <https://arxiv.org/abs/2510.16157>`_ (Gong & Li, 2025).

    The tilted SAM objective :math:`\frac1t \log \mathbb E_u e^{t L(w + \mu u)}` (see
    :class:`~fgsam.optim.TiltedSAM`) is minimised from loss values alone. With Gaussian
    directions :math:`u_1, \dots, u_S \sim \mathcal N(0, I)`:

    .. math::
        d = \sum_{s=1}^{S} \operatorname{softmax}_s\big(t L(w + \mu u_s)\big)\,
        \frac{L(w + \mu u_s) - L(w)}{\mu}\, u_s, \qquad w \leftarrow \mathrm{Base}(w, d).

    :math:`t = 0` is the averaged one-sided finite-difference (MeZO-style) estimator;
    larger :math:`t` favours the directions in which the loss rises most. :math:`\mu`
    is the group's ``rho``. Cost: :math:`S + 1` forward passes and **no backward pass**
    per step. Every evaluation runs under :func:`torch.no_grad`, so no autograd graph
    and no activations are kept: training needs the memory of inference plus one copy
    of the weights (to restore them exactly), the gradient buffer and the base
    optimizer's state. The directions are never stored: the generator state is saved
    before they are drawn and they are drawn again to accumulate :math:`d`.

    Which parameters are used: a zeroth-order method sees no gradients, so the pass at
    :math:`w` is traced (a :class:`~torch.overrides.TorchFunctionMode` that only notes
    which parameters enter a torch operation); parameters the loss does not touch are
    neither perturbed nor updated, as with ``grad is None`` elsewhere (operations run
    inside TorchScript code are not seen: use plain modules). Parameters of
    ``perturb=False`` groups, or of groups with ``rho = 0``, have no estimate and are
    left unchanged.

    Draw order from ``generator``: for each sample in turn, one ``torch.randn`` of each
    used parameter's shape (its dtype), for the parameters that require a gradient in
    ``perturb=True`` groups with ``rho > 0``, in group order. The pass at :math:`w`
    updates BatchNorm running statistics, the perturbed passes do not. Every pass starts
    from the same state of the global random generators, so dropout draws the same masks
    in all of them (otherwise the loss differences would measure dropout noise, not
    :math:`u_s`); the global state then moves on as after one pass. Under DDP the
    losses are averaged over the workers (give every worker the same ``generator``
    seed). ``scaler`` is accepted for a uniform training loop (the estimate is passed
    through it, so ``scaler.update()`` works) but nothing needs scaling. :meth:`step`
    returns :math:`L(w)`. Defaults: :math:`\mu = 10^{-3}` (the usual finite-difference
    scale of memory-efficient zeroth-order training), :math:`t = 1` and :math:`S = 4`.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): the perturbation scale :math:`\mu`. (default: ``1e-3``)
        tilt (float, optional): the tilt :math:`t \ge 0`. (default: ``1.0``)
        num_samples (int, optional): the number of directions :math:`S`. (default: ``4``)
        generator (int or torch.Generator, optional): the directions' seed or generator
            (:meth:`~fgsam.optim.seeding.SeededMixin.init_generator`). (default: ``None``)
        **kwargs: the shared ``model``, ``sync_ascent``, ``max_grad_norm`` and the base
            optimizer's arguments (``lr``, ...). ``sync_ascent`` here: accepted for a
            uniform interface, without effect: there is no backward pass to synchronise.
            ``max_grad_norm`` here: clip :math:`d`.

    Example:
        >>> opt = ZerothOrderTiltedSAM(model.parameters(), "sgd", rho=1e-3, tilt=1.0,
        ...                            num_samples=4, generator=0, lr=1e-3)
        >>> def closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])
        >>> loss = opt.step(closure)  # no backward pass is run
    """

    name = "zo-tsam"
    manual_steps = False
    hyperparameters = ("tilt", "num_samples")

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 1e-3,
                 tilt: float = 1.0, num_samples: int = 4, generator: Seed = None,
                 **kwargs: Any) -> None:
        check_non_negative("tilt", tilt)
        check_positive_int("num_samples", num_samples)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.tilt = float(tilt)
        self.num_samples = num_samples
        self.init_generator(generator)

    def candidates(self) -> list[tuple[Tensor, float]]:
        """``(param, mu)`` for parameters that require a gradient in perturbed groups."""
        return [
            (p, float(group["rho"]))
            for group in self.param_groups
            if group["perturb"] and group["rho"] > 0
            for p in group["params"]
            if p.requires_grad
        ]

    def evaluate(self, closure: Closure, name: str, perturbed: bool) -> Tensor:
        """The closure's loss, with no autograd graph (BatchNorm frozen if ``perturbed``)."""
        with torch.no_grad(), self._pass_context(perturbed, sync=True):
            loss = closure()
        return check_loss(loss, name).detach().reshape(())

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """One zeroth-order tilted SAM step (forward passes only); returns :math:`L(w)`."""
        self.zero_grad(set_to_none=True)
        candidates = self.candidates()
        tracer = UsedParameters(p for p, _ in candidates)
        rewind = global_rng_rewinder()
        with tracer:
            losses = {ASCENT: self.evaluate(closure, ASCENT, perturbed=False)}
        used = [(p, mu) for p, mu in candidates if id(p) in tracer.seen]
        params = [p for p, _ in used]
        start = self.generator.get_state()
        self.save_weights(params)
        for s in range(self.num_samples):
            for p, mu in used:  # one tensor at a time: no stored direction
                p.add_(self.normal(p), alpha=mu)
            rewind()  # same dropout masks in every pass: the differences see only u_s
            name = f"perturbed {s + 1}"
            losses[name] = self.evaluate(closure, name, perturbed=True)
            self.restore_weights()
            if s + 1 < self.num_samples:
                self.save_weights(params)
        values = worker_mean(torch.stack(list(losses.values())), self.model)
        if scaler is not None:  # no backward ran scaler.scale(), which sets up its state
            scaler.scale(losses[ASCENT])
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
            return losses[ASCENT]
        self.estimate(used, values, start, self.grad_scale(scaler))
        self.descend(scaler)
        return losses[ASCENT]

    @no_grad
    def estimate(
        self, used: list[tuple[Tensor, float]], values: Tensor, start: Tensor, scale: float
    ) -> None:
        """``.grad`` ← :math:`d` (times ``scale``), drawing the directions again from ``start``."""
        base, perturbed = values[0], values[1:]
        coef = torch.softmax(self.tilt * perturbed, 0) * (perturbed - base) * scale
        for p, _ in used:
            p.grad = torch.zeros_like(p)
        self.generator.set_state(start)
        for s in range(self.num_samples):
            for p, mu in used:
                p.grad.add_(self.normal(p) * (coef[s] / mu).to(p.device))



__all__ = ["UsedParameters", "ZerothOrderTiltedSAM"]
