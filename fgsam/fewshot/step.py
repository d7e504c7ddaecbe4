"""One training step of a few-shot method on an episode, and the same step timed."""

from __future__ import annotations

import contextlib
import time

from torch import Tensor
from torch.optim import Optimizer
from torch_geometric.data import Data

from fgsam._timing import synchronize
from fgsam.fewshot.encoder import dropout_off
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.method import FewShotMethod
from fgsam.optim import SWAD, training_step


def episode_step(method: FewShotMethod, opt: Optimizer, data: Data, task: Episode,
                 peer_only: bool = False) -> Tensor:
    """One training step of ``method`` on ``task`` with any optimizer (what
    :class:`~fgsam.fewshot.EpisodicTrainer` and ``fgsam bench --method`` time): the episode
    loss, the PeerMLP loss as the second closure of FGSAM-style optimizers, one loss per
    query node for per-sample ones (:func:`fgsam.optim.training_step`). ``peer_only``
    trains through the PeerMLP alone. Returns the loss.

    Example:
        >>> loss = episode_step(model, opt, data, sampler.sample())
    """
    reduction = "none" if getattr(opt, "per_sample_loss", False) else "mean"

    def closure() -> Tensor:
        return method.loss(data, task, peer=False, reduction=reduction)

    def peer_closure() -> Tensor:
        with contextlib.nullcontext() if method.peer_dropout else dropout_off(method):
            return method.loss(data, task, peer=True, reduction=reduction)

    # training_step passes peer_closure on only to optimizers that take two closures
    return training_step(opt, peer_closure if peer_only else closure, peer_closure)


def timed_episode_step(method: FewShotMethod, opt: Optimizer, data: Data, task: Episode,
                       swad: SWAD | None = None) -> tuple[Tensor, float, float]:
    """:func:`episode_step`, then SWAD's update (with ``swad``), timed by two clocks: the
    wall clock (``time.perf_counter``, synchronising ``data``'s device before and after)
    and the CPU time of this process (``time.process_time``, which time spent waiting for
    a busy machine does not inflate). Returns the loss, wall seconds and CPU seconds.

    Example:
        >>> loss, wall, cpu = timed_episode_step(model, opt, data, sampler.sample())
    """
    device = data.x.device
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    loss = episode_step(method, opt, data, task)
    if swad is not None:
        swad.update_parameters(method)
    synchronize(device)
    return loss, time.perf_counter() - start, time.process_time() - cpu_start


__all__ = ["episode_step", "timed_episode_step"]
