"""The contract every sharpness-aware optimizer in :mod:`fgsam.optim` shares."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam._validate import check_loss, check_non_negative, check_positive_int, check_range
from fgsam.optim.automatic_closure import AUTOMATIC, is_automatic_closure
from fgsam.optim.frozen_batchnorm_stats import frozen_batchnorm_stats
from fgsam.optim.loss_passes import LossPasses
from fgsam.optim.manual_steps import ManualSteps
from fgsam.optim.persistence import Persistence
from fgsam.optim.step_guard import StepGuard, guarded_step, no_grad
from fgsam.optim.vectors import EPS, global_norm, resolve_base_optimizer
from fgsam.optim.weight_backup import WeightBackup
from fgsam.typing import Closure

#: Names of the loss passes, used in error messages.
ASCENT, DESCENT = "ascent", "descent"


class SharpnessAwareOptimizer(
    StepGuard, ManualSteps, WeightBackup, Persistence, LossPasses, Optimizer
):
    r"""Base class of the sharpness-aware optimizers: a wrapper around a base optimizer.

    A sharpness-aware step evaluates the loss at the weights :math:`w`, moves to a
    perturbed point :math:`w + \epsilon`, takes the gradient there, restores :math:`w`
    *by copy* and lets the wrapped base optimizer step with that gradient:

    .. math::
        \epsilon = \rho\, \nabla L(w) / (\lVert \nabla L(w) \rVert + 10^{-12}),
        \qquad w \leftarrow \mathrm{Base}(w, \nabla L(w + \epsilon)).

    Subclasses choose :math:`\epsilon` in :meth:`ascend` (and may reshape the descent
    gradient in :meth:`before_descend`); this class owns the step template
    (:meth:`step`, :meth:`first_step`, :meth:`second_step`) and the rest of the contract:

    * the base optimizer is given as a class (or a ``torch.optim`` name such as
      ``"adam"``) plus its keyword arguments; it shares :attr:`param_groups` and is
      exposed as :attr:`base_optimizer`, where learning-rate schedulers attach;
    * closures return the loss; the optimizer zeroes the gradients, runs ``backward``
      and :meth:`step` returns the loss at the unperturbed weights;
    * parameters whose ``grad`` is ``None`` are neither perturbed nor updated; a zero
      gradient gives :math:`\epsilon = 0`; norms are global over all perturbed
      parameters (on one device, wherever the parameters live);
    * per-group ``rho`` and ``perturb`` (``perturb=False`` groups are updated but never
      perturbed);
    * BatchNorm running statistics are not updated by perturbed passes (needs
      ``model``); with ``model`` a :class:`~torch.nn.parallel.DistributedDataParallel`
      module the ascent runs under ``no_sync()`` unless ``sync_ascent=True``;
    * ``step(closure, scaler=scaler)`` works with :class:`torch.amp.GradScaler` (each
      pass is unscaled; an overflow in any pass skips the step, weights restored; call
      ``scaler.update()`` afterwards as usual);
    * a non-finite loss raises :class:`FloatingPointError` naming the pass and the
      step, with the weights left as they were;
    * ``max_grad_norm`` clips the descent gradient;
    * a step that fails (a closure raises, e.g. out of memory, or returns ``None`` or a
      non-scalar) restores :math:`w` bit for bit and leaves the optimizer as it was
      before the step (:meth:`step_guard`), then re-raises;
    * manual steps are checked: :meth:`first_step` more often than ``ascent_steps``
      times, :meth:`second_step` without :meth:`first_step` and :meth:`step` between
      the two raise ``RuntimeError``;
    * :meth:`state_dict` holds the base optimizer's state and all internal state; it and
      :meth:`load_state_dict` refuse to run between :meth:`first_step` and
      :meth:`second_step`, while the weights are :math:`w + \epsilon`.

    Args:
        params (iterable): parameters or parameter groups (dicts); a group may set
            ``rho`` and ``perturb``.
        base_optimizer (type or str): the wrapped optimizer class, e.g.
            :class:`torch.optim.Adam`, or its lower-case name (``"adam"``, ``"sgd"``).
        rho (float, optional): perturbation radius :math:`\rho \ge 0`. (default: ``0.05``)
        model (torch.nn.Module, optional): the trained model, for BatchNorm and DDP
            handling. (default: ``None``)
        sync_ascent (bool, optional): all-reduce the ascent gradient under DDP instead of
            keeping it local to each worker (m-sharpness). (default: ``False``)
        max_grad_norm (float, optional): clip the descent gradient to this global norm.
            (default: ``None``)
        defaults (dict, optional): further per-group hyper-parameters of a subclass.
        **base_kwargs: keyword arguments of the base optimizer (``lr``, ...).
    """

    #: Registry name (lower case); empty for abstract classes.
    name: str = ""
    #: How many closures :meth:`step` takes (FGSAM-style optimizers take two).
    num_closures: int = 1
    #: Whether :meth:`first_step` / :meth:`second_step` are supported.
    manual_steps: bool = True
    #: Whether closures should return per-sample losses (a vector) instead of the mean.
    per_sample_loss: bool = False
    #: A radius that is part of the definition (``fgsam-rho0``: 0): a run's ``rho`` skips it.
    fixed_rho: float | None = None
    #: Ascent passes per step of the default :meth:`step` (SAM's multi-step ascent: more).
    ascent_steps: int = 1
    #: The attributes :func:`repr` shows beside the groups (``None`` values left out).
    hyperparameters: tuple[str, ...] = ()
    #: Whether :meth:`ascend` folds the gradient into state that outlives the step (a
    #: moving average, a mask): :meth:`step` then checks the first pass's loss and
    #: gradient before calling it.
    ascent_keeps_state: bool = False

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[Optimizer] | str,
        rho: float = 0.05,
        *,
        model: torch.nn.Module | None = None,
        sync_ascent: bool = False,
        max_grad_norm: float | None = None,
        defaults: dict[str, Any] | None = None,
        **base_kwargs: Any,
    ) -> None:
        base_cls = resolve_base_optimizer(base_optimizer)
        check_non_negative("rho", rho)
        if "lr" in base_kwargs:
            check_non_negative("lr", base_kwargs["lr"])
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(
                f"max_grad_norm must be a positive number or None, got {max_grad_norm!r}"
            )
        if model is not None and not isinstance(model, torch.nn.Module):
            raise ValueError(
                f"model must be a torch.nn.Module or None, got {reprlib.repr(model)} "
                f"({type(model).__name__})"
            )
        super().__init__(params, {"rho": rho, "perturb": True, **(defaults or {})})
        self.base_optimizer = base_cls(self.param_groups, **base_kwargs)
        # One list of group dicts for both, so schedulers and users see one truth.
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(
            {k: v for k, v in self.base_optimizer.defaults.items() if k not in self.defaults}
        )
        for group in self.param_groups:
            self._check_group(group)
        self.model = model
        self.sync_ascent = bool(sync_ascent)
        self.max_grad_norm = max_grad_norm
        #: Global (not per-parameter) state; saved in :meth:`state_dict`.
        self.global_state: dict[str, Any] = {"step": 0}
        self._backup: dict[Tensor, Tensor] = {}
        self._perturbed: list[Tensor] = []
        #: first_step() calls since the last descent (manual steps only).
        self._ascents = 0
        self._guard_depth = 0

    # ------------------------------------------------------------------ groups
    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate one parameter group's hyper-parameters (subclasses extend)."""
        check_non_negative("rho", group["rho"])
        if "lr" in group and not isinstance(group["lr"], Tensor):
            check_non_negative("lr", group["lr"])
        if not isinstance(group["perturb"], bool):
            raise ValueError(f"perturb must be True or False, got {group['perturb']!r}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "base_optimizer" not in self.__dict__:  # still inside Optimizer.__init__
            return super().add_param_group(param_group)
        for key, value in self.defaults.items():
            param_group.setdefault(key, value)
        self._check_group(param_group)
        self.base_optimizer.add_param_group(param_group)

    # --------------------------------------------------------------- iteration
    def params_with_grad(self, perturbed_only: bool = False) -> list[Tensor]:
        """Parameters that have a gradient (of groups with ``perturb=True`` if asked)."""
        return [
            p
            for group in self.param_groups
            if group["perturb"] or not perturbed_only
            for p in group["params"]
            if p.grad is not None
        ]

    def perturbed_groups(self) -> Iterator[tuple[dict[str, Any], list[Tensor]]]:
        """``(group, params with grad)`` for every group with ``perturb=True``."""
        for group in self.param_groups:
            if group["perturb"]:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    yield group, params

    # -------------------------------------------------------------------- step
    @no_grad
    @guarded_step
    def step(  # type: ignore[override]
        self, closure: Closure | None = None, scaler: torch.amp.GradScaler | None = None
    ) -> Tensor:
        """One sharpness-aware step; returns the loss at the unperturbed weights.

        The pass at :math:`w` (its gradient unscaled), then :meth:`ascend` after it and
        after each further ascent pass (``ascent_steps`` in all), the pass at the
        perturbed point and :meth:`descent_pass`'s checks and descent. An overflow under
        ``scaler`` skips the step; a non-finite loss without one raises.
        """
        return self.run_step(self._require_closure(closure), scaler)

    def run_step(self, closure: Closure, scaler: torch.amp.GradScaler | None) -> Tensor:
        """The passes of one :meth:`step` (inside its guard, with a checked closure);
        optimizers with other passes override this, not :meth:`step`."""
        ascent, descent = self.pass_closures(closure, scaler)
        losses = {ASCENT: self.loss_and_grad(ascent, ASCENT, sync=self.sync_ascent, scaler=scaler)}
        if not self._first_ascent(losses, scaler):
            self.skip_step(scaler)
            return losses[ASCENT]
        for i in range(2, self.ascent_steps + 1):
            name = f"{ASCENT} {i}"
            losses[name] = self.loss_and_grad(
                ascent, name, perturbed=True, sync=self.sync_ascent, scaler=scaler
            )
            if not self.ascend(check_overflow=scaler is not None):
                self.skip_step(scaler)
                return losses[ASCENT]
        self.descent_pass(descent, losses, scaler)
        return losses[ASCENT]

    def pass_closures(
        self, closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> tuple[Closure, Closure]:
        """The closures :meth:`step` evaluates at :math:`w` and at :math:`w + \\epsilon`
        (both ``closure`` here; methods reading per-sample losses wrap it)."""
        return closure, closure

    def _first_ascent(self, losses: dict[str, Tensor], scaler: torch.amp.GradScaler | None) -> bool:
        if not self.ascent_keeps_state:
            return self.ascend(check_overflow=scaler is not None)
        grads = [p.grad for p in self.params_with_grad(perturbed_only=True)]
        # Checked before ascend() keeps the gradient: a NaN would stay in its state forever.
        check = {**losses, f"{ASCENT} gradient": global_norm(grads)}
        return self.check_finite(check, scaler) and self.ascend()

    def ascent_gradients(
        self, check_overflow: bool, norm: bool = True
    ) -> tuple[list[tuple[dict[str, Any], list[Tensor]]], list[Tensor], Tensor | None] | None:
        """The opening of every :meth:`ascend`: ``(groups, params, ‖g‖)`` over the
        perturbed parameters with a gradient, or ``None`` if ``check_overflow`` and
        :math:`\\lVert g \rVert` is not finite (``norm=False``: computed only for that
        check, else ``None``)."""
        groups = list(self.perturbed_groups())
        params = [p for _, ps in groups for p in ps]
        value = global_norm([p.grad for p in params]) if norm or check_overflow else None
        if check_overflow and not bool(torch.isfinite(value)):
            return None
        return groups, params, value if norm else None

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Move to :math:`w + \\epsilon` built from the gradients in ``.grad``: by default
        :math:`\\epsilon = \\rho\\, d / \\lVert d \\rVert`, :math:`d` from
        :meth:`ascent_directions`.

        Returns ``False`` (nothing moved) if ``check_overflow`` and the gradient is not
        finite. The hook of :meth:`step` and :meth:`first_step`; a subclass defines
        :meth:`ascent_directions` or overrides this.
        """
        opening = self.ascent_gradients(check_overflow, norm=False)
        if opening is None:
            return False
        groups, params, _ = opening
        self.perturb_along(groups, self.ascent_directions(params))
        return True

    def ascent_directions(self, params: list[Tensor]) -> list[Tensor]:
        """The ascent direction :math:`d`, one tensor per parameter of ``params`` (the
        perturbed ones with a gradient, in group order); the gradients are in ``.grad``."""
        raise NotImplementedError(f"{type(self).__name__} defines no ascent")

    def descent_pass(
        self,
        closure: Closure,
        losses: dict[str, Tensor],
        scaler: torch.amp.GradScaler | None,
        name: str = DESCENT,
        perturbed: bool = True,
    ) -> bool:
        """The step's last pass, then :meth:`before_descend` and :meth:`descend`.

        The gradient stays scaled for :meth:`descend`; its loss is added to ``losses``
        under ``name``. If any loss in ``losses`` is not finite the step is skipped
        (:meth:`check_finite`). Returns whether the base optimizer stepped.
        """
        losses[name] = self.loss_and_grad(
            closure, name, perturbed=perturbed, scaler=scaler, unscale=False
        )
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
            return False
        self.before_descend(scaler)
        return self.descend(scaler)

    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        """Turn ``.grad`` (taken at :math:`w + \\epsilon`, still carrying the scaler's
        factor) into the descent direction; the plain rule keeps it as it is."""

    # ----------------------------------------------------------------- descent
    @no_grad
    def descend(self, scaler: torch.amp.GradScaler | None = None) -> bool:
        """Restore the weights and step the base optimizer with the gradients in ``.grad``.

        With ``scaler`` the gradients are still scaled: ``scaler.unscale_`` unscales
        them and records the overflow check for ``scaler.update()``, and the step goes
        through ``scaler.step`` (skipped on overflow). Clips to ``max_grad_norm`` after
        unscaling. Returns whether the step was taken. The per-step buffers are dropped.
        """
        self.restore_weights()
        self.clear_step_buffers()
        norm = None
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)
        if self.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params_with_grad(), self.max_grad_norm)
        if scaler is None:
            self.base_optimizer.step()
            self.global_state["step"] += 1
            return True
        if norm is None:
            norm = global_norm([p.grad for p in self.params_with_grad()])
        scaler.step(self.base_optimizer)
        taken = bool(torch.isfinite(norm))
        self.global_state["step"] += int(taken)
        return taken

    @no_grad
    def skip_step(self, scaler: torch.amp.GradScaler | None) -> None:
        """Abandon this step after an overflow: restore the weights and let the scaler
        see the non-finite gradients, so that ``scaler.update()`` lowers the scale."""
        self.restore_weights()
        self.clear_step_buffers()
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)

    @staticmethod
    def grad_scale(scaler: torch.amp.GradScaler | None) -> float:
        """The factor the gradients of a not-yet-unscaled pass carry (1 without scaler)."""
        return 1.0 if scaler is None else float(scaler.get_scale())

    def _require_closure(self, closure: Closure | None, what: str = "closure") -> Closure:
        if is_automatic_closure(closure):  # it ran backward already: say what to do instead
            raise RuntimeError(AUTOMATIC)
        if closure is None or not callable(closure):
            raise ValueError(
                f"{type(self).__name__}.step needs a {what} that evaluates the model and returns "
                f"the loss (without calling backward), got {closure!r}; to drive the passes "
                f"yourself, call first_step() and second_step() instead"
            )
        return closure

    def running_average(
        self, p: Tensor, key: str, g: Tensor, keep: float, add: float
    ) -> Tensor | None:
        """Set ``state[p][key]`` to ``keep · avg + add · g`` (to a copy of ``g`` the first
        time) and return the previous average (``None`` the first time). A new tensor,
        not in place: a failed step rolls the state back by reference."""
        previous = self.state[p].get(key)
        if previous is None:
            self.state[p][key] = g.detach().clone()
        else:
            self.state[p][key] = previous.mul(keep).add_(g, alpha=add)
        return previous

    def start_epoch(self) -> None:
        """Called by training loops at the start of every epoch (no-op unless a method
        schedules by epoch, e.g. GraphSAM's radius decay)."""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}(base={type(self.base_optimizer).__name__}"]
        lines += [f"  {k}={v!r}" for k, v in self.extra_repr().items()]
        for i, group in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in sorted(group.items()) if k != "params")
            lines.append(f"  group {i} ({len(group['params'])} tensors): {opts}")
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> dict[str, Any]:
        """Non-group settings shown by ``repr``: :attr:`hyperparameters`, then the shared ones."""
        out = {k: getattr(self, k) for k in self.hyperparameters if getattr(self, k) is not None}
        if self.model is not None:
            out["model"] = type(self.model).__name__
        if self.sync_ascent:
            out["sync_ascent"] = True
        if self.max_grad_norm is not None:
            out["max_grad_norm"] = self.max_grad_norm
        return out


__all__ = ["ASCENT", "DESCENT", "EPS", "SharpnessAwareOptimizer", "check_loss",
           "check_non_negative", "check_positive_int", "check_range", "frozen_batchnorm_stats",
           "guarded_step"]
