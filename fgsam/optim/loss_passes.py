"""The loss passes of a step: a closure evaluated and back-propagated, its loss checked."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import Tensor

from fgsam._validate import check_loss
from fgsam.optim.frozen_batchnorm_stats import frozen_batchnorm_stats
from fgsam.typing import Closure


class LossPasses:
    """:meth:`loss_and_grad` and :meth:`check_finite` of
    :class:`~fgsam.optim.SharpnessAwareOptimizer` (a mixin of it)."""

    model: torch.nn.Module | None
    global_state: dict[str, Any]
    param_groups: list[dict[str, Any]]

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
        self.clear_grads()
        with torch.enable_grad(), self._pass_context(perturbed, sync):
            loss = check_loss(closure(), pass_name)
            (loss if scaler is None else scaler.scale(loss)).backward()
        if unscale and scaler is not None:
            grads = [p.grad for p in self.params_with_grad()]
            if grads:
                torch._foreach_mul_(grads, 1.0 / scaler.get_scale())
        return loss.detach()

    def clear_grads(self) -> None:
        """``zero_grad(set_to_none=True)`` without its per-call profiler record (two or
        more passes a step make that bookkeeping a visible part of a small model's step)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _pass_context(self, perturbed: bool, sync: bool) -> contextlib.AbstractContextManager:
        if self.model is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
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


__all__ = ["LossPasses"]
