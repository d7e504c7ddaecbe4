"""A weight average as the tested model of a few-shot repeat: SWAD's final weights and its
window counted in episodes."""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data

from fgsam.fewshot.episode import Episode
from fgsam.fewshot.method import FewShotMethod
from fgsam.optim import SWAD
from fgsam.optim.swad import has_batchnorm


def averaged_method(swad: SWAD, data: Data, tasks: list[Episode]) -> FewShotMethod:
    """The method with :class:`~fgsam.optim.SWAD`'s averaged weights, its BatchNorm
    statistics (if it has any) recomputed on ``tasks`` of ``data`` (training tasks).

    Example:
        >>> method = averaged_method(swad, data, train_tasks)
    """
    forward = None
    if has_batchnorm(swad.averaged_model.module):
        def forward(module: torch.nn.Module) -> None:
            for task in tasks:
                module(data, task)

    return swad.finalize(forward=forward).module


def swad_window(swad: SWAD, val_every: int) -> dict[str, Any]:
    """SWAD's record (:meth:`~fgsam.optim.SWAD.to_dict`) with the averaged episodes,
    ``first_episode`` and ``last_episode`` (segment :math:`i` holds the ``val_every``
    episodes after validation :math:`i - 1`, up to validation :math:`i`; ``None`` before a
    window was chosen).

    Example:
        >>> swad_window(swad, val_every=10)["first_episode"]
        31
    """
    out = swad.to_dict()
    window = swad.window
    out["first_episode"] = None if window is None else window[0] * val_every + 1
    out["last_episode"] = None if window is None else (window[1] + 1) * val_every
    return out


__all__ = ["averaged_method", "swad_window"]
