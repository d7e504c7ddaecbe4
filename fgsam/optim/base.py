"""The contract every sharpness-aware optimizer in :mod:`fgsam.optim` shares."""

from __future__ import annotations

import contextlib
import functools
import math
import reprlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.functional import EPS, global_norm, resolve_base_optimizer, scaled
from fgsam.typing import Closure

#: Names of the loss passes, used in error messages.
ASCENT, DESCENT = "ascent", "descent"

_Step = TypeVar("_Step", bound=Callable[..., Any])


def guarded_step(step: _Step) -> _Step:
    """Run the decorated :meth:`~SharpnessAwareOptimizer.step` inside
    :meth:`~SharpnessAwareOptimizer.step_guard`: every optimizer that defines its own
    ``step`` decorates it with this, so that all share one rollback."""

    @functools.wraps(step)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.step_guard():
            return step(self, *args, **kwargs)

    guarded.guarded_step = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


class SharpnessAwareOptimizer(Optimizer):
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
    #: Ascent passes per step of the default :meth:`step` (SAM's multi-step ascent: more).
    ascent_steps: int = 1
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

    # ------------------------------------------------------------ weight moves
    @torch.no_grad()
    def save_weights(self, params: list[Tensor]) -> None:
        """Copy ``params`` aside; :meth:`restore_weights` copies them back bit for bit."""
        backups = []
        for p in params:
            b = self._backup.get(p)
            if b is None or b.shape != p.shape or b.dtype != p.dtype or b.device != p.device:
                b = self._backup[p] = torch.empty_like(p, memory_format=torch.preserve_format)
            backups.append(b)
        if params:
            torch._foreach_copy_(backups, params)
        self._perturbed = list(params)

    @torch.no_grad()
    def restore_weights(self) -> None:
        """Copy the saved weights back (exact; never subtracts the perturbation).

        This also ends a manual step begun with :meth:`first_step` without stepping:
        call it to discard one.
        """
        if self._perturbed:
            torch._foreach_copy_(self._perturbed, [self._backup[p] for p in self._perturbed])
        self._perturbed = []
        self._ascents = 0

    @property
    def is_perturbed(self) -> bool:
        """Whether the weights are currently moved away from the saved ones."""
        return bool(self._perturbed)

    def saved_weight(self, p: Tensor) -> Tensor:
        """The unperturbed value of ``p`` while a perturbation is applied."""
        return self._backup[p] if self._perturbed else p

    @torch.no_grad()
    def perturb(self, params: list[Tensor], eps: list[Tensor]) -> None:
        """Save ``params`` (if not already moved) and add ``eps`` to them."""
        if not self._perturbed:
            self.save_weights(params)
        if params:
            torch._foreach_add_(params, eps)

    # ------------------------------------------------------------------ passes
    def loss_and_grad(
        self,
        closure: Closure,
        pass_name: str,
        *,
        perturbed: bool = False,
        sync: bool = True,
        scaler: torch.amp.GradScaler | None = None,
        unscale: bool = True,
    ) -> Tensor:
        """Zero the gradients, evaluate ``closure`` and back-propagate.

        ``perturbed`` freezes BatchNorm running statistics; ``sync=False`` keeps the
        gradient local under DDP. With ``scaler`` the loss is scaled for ``backward``
        and, if ``unscale``, the gradients are unscaled again (an overflow shows up as
        a non-finite norm); the last pass before :meth:`descend` keeps them scaled,
        for the scaler to check. Returns the detached loss.
        """
        self.zero_grad(set_to_none=True)
        with torch.enable_grad(), self._pass_context(perturbed, sync):
            loss = check_loss(closure(), pass_name)
            (loss if scaler is None else scaler.scale(loss)).backward()
        if unscale and scaler is not None:
            grads = [p.grad for p in self.params_with_grad()]
            if grads:
                torch._foreach_mul_(grads, 1.0 / scaler.get_scale())
        return loss.detach()

    def _pass_context(self, perturbed: bool, sync: bool) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if self.model is not None:
            if perturbed:
                stack.enter_context(frozen_batchnorm_stats(self.model))
            if not sync and isinstance(self.model, torch.nn.parallel.DistributedDataParallel):
                stack.enter_context(self.model.no_sync())
        return stack

    def check_finite(self, losses: dict[str, Tensor], scaler: torch.amp.GradScaler | None) -> bool:
        """Raise (no scaler) or report ``False`` (scaler) if any pass's loss is not finite.

        One device synchronisation per step; the weights are restored before raising.
        """
        values = list(losses.values())
        if all(v.dtype == values[0].dtype and v.device == values[0].device for v in values):
            stacked = torch.stack(values)  # the usual case: no casts or moves
        else:
            stacked = torch.stack([v.reshape(()).float().to(self._device()) for v in values])
        if bool(torch.isfinite(stacked).all()):
            return True
        self.restore_weights()
        if scaler is not None:
            return False
        name, value = next((k, v) for k, v in losses.items() if not math.isfinite(float(v)))
        err = FloatingPointError(
            f"{type(self).__name__}: the loss of the {name} pass is {float(value)} at step "
            f"{self.global_state['step']}; the weights were left unchanged. Lower the learning "
            f"rate or rho, or check the data and the loss for NaN/inf."
        )
        # where it diverged, for training loops that record it instead of stopping
        err.pass_name, err.step = name, int(self.global_state["step"])  # type: ignore[attr-defined]
        raise err

    def _device(self) -> torch.device:
        for group in self.param_groups:
            for p in group["params"]:
                return p.device
        return torch.device("cpu")

    # ------------------------------------------------------------ fault safety
    @contextlib.contextmanager
    def step_guard(self, manual: bool = False) -> Iterator[None]:
        r"""Run a step, or one half of a manual step, so that a failure leaves no trace.

        Every :meth:`step` of every optimizer runs inside this context (through
        :func:`guarded_step`), and so do :meth:`first_step` and :meth:`second_step`. If
        anything raises inside it (a closure that runs out of memory or is interrupted,
        returns ``None`` or a tensor of more than one element, a non-finite loss), then
        before the exception propagates:

        * the weights are copied back from the saved ones, bit for bit, and
          :attr:`is_perturbed` is ``False`` (a manual step is abandoned: :math:`w` is
          the point before its :meth:`first_step`);
        * :attr:`global_state` (the step counter included), the entries of
          :attr:`state` and, for seeded optimizers, the generator return to what they
          were on entry (:meth:`step_snapshot`, :meth:`rollback_step`);
        * the per-step buffers are dropped (:meth:`clear_step_buffers`), freeing their
          memory.

        The base optimizer steps only at the very end of a step, after the last pass,
        so a failure in a pass leaves it untouched. Per-parameter state is rolled back
        by reference: the optimizers replace those tensors during a step instead of
        writing into them, until the descent; what :meth:`before_descend` and
        :meth:`descend` update after the last pass (and anything the base optimizer's
        own ``step`` does) is outside this guarantee. Gradients in ``.grad`` are left as
        the failed pass made them. Without a failure the block only pays for the
        snapshot (a shallow copy of the state dictionaries and, if seeded, of the
        generator state), and a step always ends at :math:`w`.

        Args:
            manual (bool, optional): guard a :meth:`first_step` / :meth:`second_step`
                instead of a whole :meth:`step`. (default: ``False``)
        """
        if self._guard_depth:  # nested, e.g. a step calling super().step(): the outer rolls back
            yield
            return
        if not manual and (self._ascents or self.is_perturbed):
            raise RuntimeError(
                f"{type(self).__name__}.step() called between first_step() and "
                f"second_step(): finish the manual step with second_step(), or discard it "
                f"with restore_weights()"
            )
        snapshot = self.step_snapshot()
        self._guard_depth += 1
        try:
            yield
        except BaseException:
            self.rollback_step(snapshot)
            raise
        else:
            if not manual and self.is_perturbed:  # a step always ends at w
                self.restore_weights()
        finally:
            self._guard_depth -= 1

    def step_snapshot(self) -> dict[str, Any]:
        """What :meth:`rollback_step` returns to: shallow copies of :attr:`global_state`
        and of every :attr:`state` entry (subclasses extend, e.g. with the generator)."""
        return {
            "global_state": dict(self.global_state),
            "state": {p: dict(entries) for p, entries in self.state.items()},
        }

    @torch.no_grad()
    def rollback_step(self, snapshot: dict[str, Any]) -> None:
        """Undo a failed step: restore the weights, drop the per-step buffers and put
        :attr:`global_state` and :attr:`state` back as :meth:`step_snapshot` saw them."""
        self.restore_weights()
        self.clear_step_buffers()
        self.global_state.clear()
        self.global_state.update(snapshot["global_state"])
        saved = snapshot["state"]
        for p in [p for p in self.state if p not in saved]:
            del self.state[p]
        for p, entries in saved.items():
            current = self.state[p]
            current.clear()
            current.update(entries)

    def clear_step_buffers(self) -> None:
        """Drop what a step keeps only until its descent (copies of gradients, the
        accumulated perturbation); subclasses holding such buffers extend this."""

    # -------------------------------------------------------------------- step
    @torch.no_grad()
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
        closure = self._require_closure(closure)
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

    def ascend(self, check_overflow: bool = False) -> bool:
        """Move to :math:`w + \\epsilon` built from the gradients in ``.grad``.

        Returns ``False`` (nothing moved) if ``check_overflow`` and the gradient is not
        finite. The hook of :meth:`step` and :meth:`first_step`; subclasses define it.
        """
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

    @staticmethod
    def group_scaled(
        groups: list[tuple[dict[str, Any], list[Tensor]]],
        tensors: list[Tensor],
        coeff: Tensor,
        divisor: float = 1.0,
    ) -> list[Tensor]:
        """``tensors`` (one per parameter of ``groups``, in order) times ``coeff ·
        (rho / divisor)``, with each group's own ``rho``."""
        out: list[Tensor] = []
        start = 0
        for group, ps in groups:
            out += scaled(tensors[start : start + len(ps)], coeff * (group["rho"] / divisor))
            start += len(ps)
        return out

    # ----------------------------------------------------------------- descent
    @torch.no_grad()
    def descend(self, scaler: torch.amp.GradScaler | None = None) -> bool:
        """Restore the weights and step the base optimizer with the gradients in ``.grad``.

        With ``scaler`` the gradients are still scaled: ``scaler.unscale_`` unscales
        them and records the overflow check for ``scaler.update()``, and the step goes
        through ``scaler.step`` (skipped on overflow). Clips to ``max_grad_norm`` after
        unscaling. Returns whether the step was taken.
        """
        self.restore_weights()
        params = self.params_with_grad()
        norm = None
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)
        if self.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if scaler is None:
            self.base_optimizer.step()
            self.global_state["step"] += 1
            return True
        if norm is None:
            norm = global_norm([p.grad for p in params])
        scaler.step(self.base_optimizer)
        taken = bool(torch.isfinite(norm))
        self.global_state["step"] += int(taken)
        return taken

    @torch.no_grad()
    def skip_step(self, scaler: torch.amp.GradScaler | None) -> None:
        """Abandon this step after an overflow: restore the weights and let the scaler
        see the non-finite gradients, so that ``scaler.update()`` lowers the scale."""
        self.restore_weights()
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)

    @staticmethod
    def grad_scale(scaler: torch.amp.GradScaler | None) -> float:
        """The factor the gradients of a not-yet-unscaled pass carry (1 without scaler)."""
        return 1.0 if scaler is None else float(scaler.get_scale())

    def _require_closure(self, closure: Closure | None, what: str = "closure") -> Closure:
        if closure is None or not callable(closure):
            raise ValueError(
                f"{type(self).__name__}.step needs a {what} that evaluates the model and returns "
                f"the loss (without calling backward), got {closure!r}; to drive the passes "
                f"yourself, call first_step() and second_step() instead"
            )
        return closure

    def start_epoch(self) -> None:
        """Called by training loops at the start of every epoch (no-op unless a method
        schedules by epoch, e.g. GraphSAM's radius decay)."""

    # ------------------------------------------------------------ manual steps
    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move to the perturbed point using the gradients already in ``.grad``
        (:meth:`ascend`; call it ``ascent_steps`` times, each after a backward pass).

        Raises ``RuntimeError`` if called more than ``ascent_steps`` times before
        :meth:`second_step`; :meth:`restore_weights` discards a begun manual step.
        """
        self._require_manual_steps()
        if self._ascents >= self.ascent_steps:
            raise RuntimeError(
                f"{type(self).__name__}.first_step() called again while the weights are "
                f"perturbed ({self._ascents} of {self.ascent_steps} ascent step(s) taken): "
                f"back-propagate the loss at the perturbed weights and call second_step()"
            )
        with self.step_guard(manual=True):
            self.ascend()
            self._ascents += 1
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore the weights and step with the gradients in ``.grad`` (taken at ``w + ε``).

        Raises ``RuntimeError`` without a preceding :meth:`first_step`.
        """
        self._require_manual_steps()
        if not self._ascents:
            raise RuntimeError(
                f"{type(self).__name__}.second_step() called without a preceding "
                f"first_step(): call loss.backward() and first_step() first, or use "
                f"step(closure)"
            )
        with self.step_guard(manual=True):
            self.before_descend(None)
            self.descend()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def _require_manual_steps(self) -> None:
        if not self.manual_steps:
            raise NotImplementedError(f"{type(self).__name__} does not support manual steps")

    # ------------------------------------------------------------- persistence
    def _require_unperturbed(self, what: str) -> None:
        # Between first_step() and second_step() the model holds w + eps, not w.
        if self._ascents or self.is_perturbed:
            raise RuntimeError(
                f"{type(self).__name__}.{what}() called between first_step() and "
                f"second_step(), while the weights are perturbed: call second_step() first, "
                f"or restore_weights() to discard the manual step"
            )

    def state_dict(self) -> dict[str, Any]:
        r"""The base optimizer's state and all internal state.

        Raises ``RuntimeError`` between :meth:`first_step` and :meth:`second_step`: the
        model's weights are :math:`w + \epsilon` then, so a checkpoint would be wrong.
        """
        self._require_unperturbed("state_dict")
        state = super().state_dict()
        state["base_optimizer"] = self.base_optimizer.state_dict()
        state["global_state"] = {
            k: (v.clone() if isinstance(v, Tensor) else v) for k, v in self.global_state.items()
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` saved (``ValueError`` for a dict it did not
        save; ``RuntimeError`` between :meth:`first_step` and :meth:`second_step`)."""
        self._require_unperturbed("load_state_dict")
        if not isinstance(state_dict, dict):
            raise ValueError(
                f"state_dict must be a dict saved by {type(self).__name__}.state_dict(), "
                f"got {type(state_dict).__name__}"
            )
        state_dict = dict(state_dict)
        base_state = state_dict.pop("base_optimizer", None)
        global_state = state_dict.pop("global_state", None)
        if base_state is None or global_state is None:
            raise ValueError(
                f"state_dict was not saved by a {type(self).__name__}: it lacks the keys "
                f"'base_optimizer' and 'global_state' (keys found: {sorted(state_dict)})"
            )
        super().load_state_dict(state_dict)
        self.base_optimizer.load_state_dict(base_state)
        self.base_optimizer.param_groups = self.param_groups
        self.global_state = {
            k: (v.clone() if isinstance(v, Tensor) else v) for k, v in global_state.items()
        }
        self._perturbed = []

    def __getstate__(self) -> dict[str, Any]:
        # Optimizer.__getstate__ keeps only defaults/state/param_groups; keep everything.
        state = dict(self.__dict__)
        state["_guard_depth"] = 0  # a copy taken inside a step still guards its own steps
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # Pickles of optimizers saved before manual steps were counted lack these.
        self.__dict__.setdefault("_ascents", 0)
        self.__dict__.setdefault("_guard_depth", 0)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}(base={type(self.base_optimizer).__name__}"]
        lines += [f"  {k}={v!r}" for k, v in self.extra_repr().items()]
        for i, group in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in sorted(group.items()) if k != "params")
            lines.append(f"  group {i} ({len(group['params'])} tensors): {opts}")
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> dict[str, Any]:
        """Non-group settings shown by ``repr`` (subclasses extend)."""
        out: dict[str, Any] = {}
        if self.model is not None:
            out["model"] = type(self.model).__name__
        if self.sync_ascent:
            out["sync_ascent"] = True
        if self.max_grad_norm is not None:
            out["max_grad_norm"] = self.max_grad_norm
        return out


@contextlib.contextmanager
def frozen_batchnorm_stats(model: torch.nn.Module) -> Iterator[None]:
    """Inside this context, BatchNorm layers in training mode normalise with the batch
    statistics but do not update their running statistics (nor ``num_batches_tracked``).
    """
    layers = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._NormBase) and m.track_running_stats
    ]
    for m in layers:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in layers:
            m.track_running_stats = True


def check_loss(loss: Any, pass_name: str) -> Tensor:
    """``loss`` if it is a one-element tensor; otherwise a ``TypeError`` naming the pass."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        if isinstance(loss, Tensor):
            got = f"Tensor of shape {tuple(loss.shape)} (reduce it, e.g. with .mean())"
        elif loss is None:
            got = "None (does the closure return the loss?)"
        else:
            got = f"{reprlib.repr(loss)} ({type(loss).__name__})"
        raise TypeError(
            f"the {pass_name} closure must return the loss as a one-element tensor, got {got}"
        )
    return loss


def check_non_negative(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                high_open: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``low ≤ value ≤ high`` (or open ends)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")


def check_positive_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


__all__ = [
    "ASCENT",
    "DESCENT",
    "EPS",
    "SharpnessAwareOptimizer",
    "check_loss",
    "check_non_negative",
    "check_positive_int",
    "check_range",
    "frozen_batchnorm_stats",
    "guarded_step",
]
