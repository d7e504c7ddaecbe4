"""The ``--log-dir`` rows of one few-shot repeat: a row per validation, written as it comes."""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor

from fgsam._metric_log import MetricLog

#: The columns of a repeat's ``--log-dir`` CSV.
COLUMNS = ("episode", "train_loss", "val_acc", "val_loss", "best_val_acc")


class ValidationLog:
    """One repeat's training curve in ``log_dir/<run>.csv`` (and TensorBoard events where
    installed; :class:`fgsam._metric_log.MetricLog`): at every validation the episode, the
    mean training loss of the episodes since the previous validation, the validation
    accuracy and mean query cross-entropy, and the best validation accuracy so far.
    Without ``log_dir`` it does nothing and costs nothing. The training losses stay on the
    device until a validation reads them, so the steps stay asynchronous.

    Args:
        log_dir (str or os.PathLike, optional): the folder; ``None``: no log.
        run (str): the run's name, e.g. ``"fgsam+-repeat0"``.

    Example:
        >>> log = ValidationLog("logs", "adam-repeat0")
        >>> log.step(loss)
        >>> log.validation(10, acc=0.71, loss=0.83, best=0.71)
        >>> log.close()
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None, run: str) -> None:
        self._log = None if log_dir is None else MetricLog(log_dir, run, columns=list(COLUMNS))
        self._losses: list[Tensor] = []

    def step(self, loss: Tensor) -> None:
        """Note one training step's loss (a per-query loss vector counts as its mean)."""
        if self._log is not None:
            self._losses.append(loss.detach().float().mean())

    def validation(self, episode: int, acc: float, loss: float, best: float) -> None:
        """Write the row of the validation after ``episode`` episodes."""
        if self._log is None:
            return
        train = float(torch.stack(self._losses).mean()) if self._losses else math.nan
        self._losses.clear()
        self._log.write(episode, {"episode": episode, "train_loss": train, "val_acc": acc,
                                  "val_loss": loss, "best_val_acc": best})

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

    def __repr__(self) -> str:
        return f"ValidationLog({self._log!r})"


__all__ = ["COLUMNS", "ValidationLog"]
