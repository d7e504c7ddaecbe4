"""One training epoch over molecules with any optimizer of the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch_geometric.loader import DataLoader

from fgsam.mol.distributed import DistributedContext
from fgsam.mol.masked_loss import masked_loss
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.training_step import training_step


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                task_type: str, device: torch.device | str, epoch: int = 0,
                ctx: DistributedContext | None = None, max_steps: int | None = None,
                on_step: Callable[[], Any] | None = None) -> Tensor:
    """Train one epoch; returns each step's loss, averaged over the processes (CPU).

    Calls ``optimizer.start_epoch()`` first for sharpness-aware optimizers (GraphSAM's
    radius decay and direction refresh) and steps through
    :func:`fgsam.optim.training_step`, so plain and sharpness-aware optimizers train the
    same way; optimizers with ``per_sample_loss`` get per-molecule losses. Under DDP
    pass the wrapped model (its backward synchronises the gradients).

    Args:
        model (torch.nn.Module): the model (or its ``DistributedDataParallel`` wrapper).
        optimizer (torch.optim.Optimizer): any single-closure optimizer.
        loader (DataLoader): the training batches of this process.
        task_type (str): the dataset's task type (selects the loss).
        device (torch.device or str): where the batches go.
        epoch (int, optional): the epoch number, which seeds the shuffle. (default: ``0``)
        ctx (DistributedContext, optional): the processes. (default: one process)
        max_steps (int, optional): stop after this many steps. (default: ``None``)
        on_step (callable, optional): called after every optimizer step, e.g. SWAD's
            ``lambda: swad.update_parameters(model)``. (default: ``None``)

    Example:
        >>> loader = data.loader("train", 32, shuffle=True, seed=0)
        >>> for epoch in range(50):
        ...     losses = train_epoch(model, opt, loader, "regression", "cpu", epoch)
    """
    ctx = ctx or DistributedContext()
    if isinstance(optimizer, SharpnessAwareOptimizer):
        optimizer.start_epoch()
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)  # a new, seeded shuffle per epoch
    per_sample = bool(getattr(optimizer, "per_sample_loss", False))
    model.train()
    losses = []
    for step, batch in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        batch = batch.to(device)

        def closure(batch=batch) -> Tensor:
            return masked_loss(model(batch), batch.y, task_type, per_sample)

        losses.append(training_step(optimizer, closure).detach().float().mean())
        if on_step is not None:
            on_step()
    if not losses:
        return torch.zeros(0, dtype=torch.float64)
    return ctx.mean(torch.stack(losses)).double().cpu()


__all__ = ["train_epoch"]
