r"""Paired differences between two optimizers that saw the same tasks (or the same seeds).

Every optimizer of one comparison is trained and tested on identical seeds and tasks, so
the question "is B better than A?" is about the per-unit differences
:math:`d_{r,i} = b_{r,i} - a_{r,i}` (unit :math:`i` of repeat :math:`r`: a test task in
``fgsam fsnc``, the one test score of a seed in ``fgsam node`` and ``fgsam mol``), not about
two separate intervals. The variance of :math:`d` is much smaller than that of either side
when both track the task's difficulty.

* **Mean difference** :math:`\bar d` over all units.
* **95% confidence interval**, percentile bootstrap that respects the repeats: each
  resample draws the repeats with replacement, then the units of each drawn repeat with
  replacement (a two-stage bootstrap; the training run of a repeat is a source of variance
  the tasks within it do not show). With one repeat it is a bootstrap over its units.
  Seeded, so the same data give the same interval.
* **Wilcoxon signed-rank p-value**, two-sided, over all units
  (:func:`scipy.stats.wilcoxon`, zero differences dropped as Wilcoxon did; scipy's exact
  distribution for small samples without ties, else its normal approximation with tie
  correction). It treats the units as independent, which tasks of one repeat are not
  quite: read it beside the interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

#: Bootstrap resamples of :func:`paired_difference`.
RESAMPLES = 10_000


@dataclass(frozen=True)
class PairedDifference:
    """The paired comparison of one optimizer (``other``) against a baseline (:mod:`fgsam._paired`).

    Args:
        mean (float): mean of ``other - baseline`` over all units.
        low (float): lower end of the 95% bootstrap interval of the mean.
        high (float): upper end.
        p_value (float): two-sided Wilcoxon signed-rank p-value (1.0 when every
            difference is 0).
        units (int): paired units (tasks, or seeds).
        repeats (int): repeats the units fall into.
        wins (int): units where ``other`` is higher.
        losses (int): units where it is lower (the rest are ties).
        resampling (str): how the interval resampled: ``"repeats, then units"``,
            ``"repeats"`` (one unit each: seeds) or ``"units"`` (one repeat).
    """

    mean: float
    low: float
    high: float
    p_value: float
    units: int
    repeats: int
    wins: int
    losses: int
    resampling: str

    def cell(self, scale: float = 100.0, digits: int = 2) -> str:
        """``+1.23 [-0.40, +2.90] p=0.031``: the mean and interval times ``scale``."""
        return interval_cell(scale * self.mean, scale * self.low, scale * self.high,
                             self.p_value, digits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def signed(value: float, digits: int = 2) -> str:
    """``value`` with its sign at ``digits`` decimals, ``+0.00`` for what rounds to zero."""
    rounded = round(value, digits)
    return f"{rounded if rounded != 0 else 0.0:+.{digits}f}"


def interval_cell(mean: float, low: float, high: float, p_value: float, digits: int = 2) -> str:
    """``+1.23 [-0.40, +2.90] p=0.031``, the table cell of a paired difference."""
    p = f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.0e}"
    return f"{signed(mean, digits)} [{signed(low, digits)}, {signed(high, digits)}] p={p}"


def paired_difference(baseline: Sequence[Sequence[float]], other: Sequence[Sequence[float]],
                      *, resamples: int = RESAMPLES, seed: int = 0,
                      level: float = 0.95) -> PairedDifference:
    """The paired difference ``other - baseline`` (:class:`PairedDifference`).

    Args:
        baseline (sequence of sequences): per repeat, the baseline's value of each unit.
        other (sequence of sequences): the same shape, the other optimizer's values of
            the same units in the same order.
        resamples (int, optional): bootstrap resamples. (default: ``10000``)
        seed (int, optional): seed of the bootstrap. (default: ``0``)
        level (float, optional): confidence level of the interval. (default: ``0.95``)

    Example:
        >>> d = paired_difference([[0.5, 0.7], [0.6, 0.6]], [[0.6, 0.8], [0.6, 0.7]])
        >>> round(d.mean, 3), d.wins, d.losses
        (0.075, 3, 0)
    """
    a, b = _matrix(baseline, "baseline"), _matrix(other, "other")
    if a.shape != b.shape:
        raise ValueError(f"baseline and other must pair unit for unit: shapes (repeats, "
                         f"units) {a.shape} and {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    d = b - a
    repeats, units = d.shape
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 1000):  # blocks: [block, repeats, units] stays small
        size = min(1000, resamples - start)
        rows = rng.integers(0, repeats, size=(size, repeats, 1))
        cols = rng.integers(0, units, size=(size, repeats, units))
        means[start:start + size] = d[rows, cols].mean(axis=(1, 2))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    flat = d.ravel()
    if np.all(flat == 0):
        p = 1.0
    else:
        p = float(wilcoxon(flat, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedDifference(
        mean=float(flat.mean()), low=float(low), high=float(high), p_value=p,
        units=int(flat.size), repeats=int(repeats), wins=int((flat > 0).sum()),
        losses=int((flat < 0).sum()),
        resampling="units" if repeats == 1 else "repeats" if units == 1 else "repeats, then units")


def _matrix(values: Sequence[Sequence[float]], name: str) -> np.ndarray:
    rows = [list(map(float, r)) for r in values]
    if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(f"{name} must be a non-empty list of repeats with the same number "
                         f"of units each, got lengths {[len(r) for r in rows]}")
    out = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} has non-finite values: a diverged run has no paired "
                         f"difference")
    return out


def paired_or_none(baseline: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
                   ) -> PairedDifference | None:
    """:func:`paired_difference` over the repeats both sides have finished with values
    (a diverged or unfinished repeat of either side is left out), or ``None`` if there
    is none."""
    pairs = [(x, y) for x, y in zip(baseline, other) if x and y and len(x) == len(y)
             and all(map(math.isfinite, x)) and all(map(math.isfinite, y))]
    if not pairs:
        return None
    return paired_difference([x for x, _ in pairs], [y for _, y in pairs])


__all__ = ["RESAMPLES", "PairedDifference", "interval_cell", "paired_difference", "paired_or_none",
           "signed"]
