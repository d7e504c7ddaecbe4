"""One training step with any optimizer: plain ``torch.optim`` or sharpness-aware."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.typing import Closure


def training_step(
    optimizer: Optimizer,
    closure: Closure,
    peer_closure: Closure | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> Tensor:
    """Take one step of ``optimizer`` and return the loss at the current weights.

    Plain optimizers get ``zero_grad``, ``closure().backward()`` and ``step()``;
    sharpness-aware ones get ``step(closure)``, and FGSAM-style ones (``num_closures ==
    2``) get ``step(closure, peer_closure)``, ``peer_closure`` evaluating the same loss
    with the PeerMLP view. Training loops call this so that every optimizer of the
    registry trains every model the same way.

    Args:
        optimizer (torch.optim.Optimizer): any optimizer.
        closure (callable): evaluates the model (the GNN) and returns the loss.
        peer_closure (callable, optional): the same loss through the PeerMLP view;
            required by FGSAM-style optimizers. (default: ``None``)
        scaler (torch.amp.GradScaler, optional): for mixed precision; call
            ``scaler.update()`` after the step as usual. (default: ``None``)

    Example:
        >>> loss = training_step(opt, lambda: F.cross_entropy(model(x, ei)[m], y[m]))
    """
    if isinstance(optimizer, SharpnessAwareOptimizer):
        if optimizer.num_closures == 2:
            if peer_closure is None:
                raise ValueError(
                    f"{type(optimizer).__name__} needs peer_closure, the loss through the "
                    f"PeerMLP view (see fgsam.nn.peer_forward); got None"
                )
            return optimizer.step(closure, peer_closure, scaler=scaler)
        return optimizer.step(closure, scaler=scaler)
    optimizer.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = closure()
        (loss if scaler is None else scaler.scale(loss)).backward()
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
    return loss.detach()


__all__ = ["training_step"]
