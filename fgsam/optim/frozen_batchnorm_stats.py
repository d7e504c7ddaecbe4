"""BatchNorm running statistics left alone by the perturbed passes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


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


__all__ = ["frozen_batchnorm_stats"]
