"""Per-epoch metrics of a training run written as they come: a CSV file, and TensorBoard
events when ``tensorboard`` is installed (the ``--log-dir`` of the training commands)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any


class MetricLog:
    """One run's metrics, a row per call of :meth:`write`, in ``log_dir/<run>.csv`` (flushed
    after every row, so a crash keeps what was logged) and, where
    ``torch.utils.tensorboard`` can be imported, as scalars ``<name>`` of the TensorBoard
    run ``log_dir/<run>`` at global step ``step``.

    The CSV's columns are those of the first row; a later row's other keys are left out
    and its missing ones left empty (a run's rows have one shape: ``fgsam node``'s
    evaluated epochs add ``valid`` and ``test``, so the first row names them empty when
    they are not measured yet: pass ``columns`` to fix them up front; the header is then
    written at once).

    Args:
        log_dir (str or os.PathLike): the folder (created if missing).
        run (str): the run's name, e.g. ``"fgsam+-seed0"`` (the file and TensorBoard run).
        columns (list of str, optional): the CSV's columns (default: the first row's keys).
        tensorboard (bool, optional): also write TensorBoard events if the package is
            installed. (default: ``True``)

    Example:
        >>> log = MetricLog("logs", "adam-seed0", columns=["epoch", "train_loss", "valid"])
        >>> log.write(1, {"epoch": 1, "train_loss": 0.7})
        >>> log.close()
    """

    def __init__(self, log_dir: str | os.PathLike[str], run: str,
                 columns: list[str] | None = None, tensorboard: bool = True) -> None:
        self.folder = Path(log_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{run}.csv"
        self.columns = list(columns) if columns is not None else None
        self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv: csv.DictWriter | None = None
        if self.columns is not None:  # a run that stops before its first row still has them
            self._header(self.columns)
        self.events = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # an optional extra: the CSV is the log without it
                SummaryWriter = None
            if SummaryWriter is not None:
                self.events = SummaryWriter(str(self.folder / run))

    def write(self, step: int, row: dict[str, Any]) -> None:
        """Log ``row`` (numbers, and anything else for the CSV only) at ``step``."""
        if self._csv is None:
            self._header(list(row))
        assert self._csv is not None
        self._csv.writerow(row)
        self._file.flush()
        if self.events is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) \
                        and math.isfinite(value):
                    self.events.add_scalar(key, value, step)

    def _header(self, columns: list[str]) -> None:
        self._csv = csv.DictWriter(self._file, columns, extrasaction="ignore")
        self._csv.writeheader()
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self.events is not None:
            self.events.close()

    def __repr__(self) -> str:
        return (f"MetricLog({str(self.path)!r}, tensorboard="
                f"{self.events is not None})")


__all__ = ["MetricLog"]
