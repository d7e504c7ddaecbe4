"""The divergence record of a training run: where its loss first became non-finite."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class DivergenceWatch:
    """Watch a training run for a non-finite loss and record where it first appeared, as
    :attr:`RepeatResult.diverged <fgsam.fewshot.results.RepeatResult>` holds it
    (``episode``, ``pass``, ``step``, ``message``).

    A sharpness-aware optimizer raises :class:`FloatingPointError` itself (with its
    ``pass_name`` and ``step``): :meth:`raised` records it. A plain optimizer's loss is
    tested on the device after each step (:meth:`observe`, no synchronisation) and read
    at validations only (:meth:`check`), so that its steps stay asynchronous.

    Args:
        device (torch.device): where the training losses live.

    Example:
        >>> watch = DivergenceWatch(data.x.device)
        >>> watch.observe(loss, episode=1)
        >>> watch.check("Adam") is None  # a finite loss
        True
    """

    def __init__(self, device: torch.device) -> None:
        # the first episode with a non-finite training loss (-1: none), kept on the device
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)

    @staticmethod
    def raised(err: FloatingPointError, episode: int) -> dict[str, Any]:
        """The record of a :class:`FloatingPointError` raised at ``episode`` (1-based)."""
        return {"episode": episode, "pass": getattr(err, "pass_name", None),
                "step": getattr(err, "step", None), "message": str(err)}

    def observe(self, loss: Tensor, episode: int) -> None:
        """Note ``loss``, the training loss of ``episode`` (1-based), if it is the first
        non-finite one."""
        finite = torch.isfinite(loss.detach()).all()
        self._first_bad = torch.where((self._first_bad < 0) & ~finite, episode, self._first_bad)

    def check(self, optimizer: str) -> dict[str, Any] | None:
        """The record of the first non-finite loss :meth:`observe` saw (``optimizer``, the
        optimizer's class name, goes into the message), or ``None``."""
        bad = int(self._first_bad)
        if bad < 0:
            return None
        return {"episode": bad, "pass": "training", "step": None,
                "message": f"the training loss of {optimizer} is not finite at episode {bad}; "
                           f"lower the learning rate, or check the data and the loss"}


__all__ = ["DivergenceWatch"]
