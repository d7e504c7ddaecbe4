"""Few-shot results: per-repeat records and the 95% confidence interval."""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fgsam._io import write_json
from fgsam._paired import PairedDifference, paired_or_none

#: Consecutive training steps per block of :func:`block_median` (a multiple of the cycle of
#: the optimizers that alternate cheap and full steps: FGSAM+ with k = 2 or 5, LookSAM).
BLOCK = 10


def block_means(run: list[float], size: int = BLOCK) -> list[float]:
    """The mean of each block of ``size`` consecutive steps of ``run`` (a trailing partial
    block is dropped; a run shorter than one block is one block)."""
    whole = len(run) // size * size or len(run)
    return [math.fsum(run[i:i + size]) / len(run[i:i + size]) for i in range(0, whole, size)]


def block_median(steps: list[list[float]], size: int = BLOCK) -> float:
    """The median, over blocks of ``size`` consecutive steps of each run in ``steps``, of
    the mean step time of a block (the measure of ``fgsam bench``: robust to one-off costs,
    and exact for optimizers whose steps alternate between cheap and full ones). A run
    shorter than one block counts as one block. NaN for no steps."""
    blocks = [b for run in steps for b in block_means(run, size)]
    return statistics.median(blocks) if blocks else math.nan


def mean_and_ci95(values: list[float]) -> tuple[float, float]:
    r"""Mean and half-width of the 95% confidence interval, :math:`1.96\,\sigma/\sqrt{n}`,
    with :math:`\sigma` the population standard deviation of ``values`` (as the FSNC
    literature computes it, ``np.std``)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_and_ci95 needs at least one value, got an empty list")
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
    return mean, 1.96 * std / math.sqrt(n)


@dataclass
class RepeatResult:
    """One repeat of an episodic experiment: training record and per-task test accuracies.

    Args:
        repeat (int): index of the repeat.
        seeds (dict): the seeds of this repeat's streams (``model``, ``train``, ``val``,
            ``test``).
        test_accs (list of float): accuracy (in ``[0, 1]``) of each test task.
        val_history (list): ``[episode, validation accuracy]`` at each validation.
        best_val_acc (float): best validation accuracy.
        best_episode (int): episodes trained when it was reached.
        episodes (int): episodes trained (fewer than asked after early stopping).
        train_seconds (float): wall time in forward + backward + optimizer step only.
        tested (str): ``"best"`` (best validation checkpoint), ``"last"`` model,
            ``"swad"`` (the SWAD average) or ``"none"`` (diverged, not tested).
        averaging (dict, optional): with SWAD, its settings, validation losses and window
            (:meth:`fgsam.optim.SWAD.to_dict`, plus ``first_episode`` / ``last_episode``,
            the averaged episodes). (default: ``None``)
        cpu_seconds (float, optional): process CPU time of the same training steps.
            (default: ``0.0``)
        cpu_steps (list of float, optional): the process CPU time of each training step
            (not written to JSON: its median is). (default: ``[]``)
        diverged (dict, optional): where the loss became non-finite (``episode``,
            ``pass``, ``message``); ``None`` for a repeat that finished. (default: ``None``)
        cpu_blocks (list of float, optional): the :func:`block_means` of ``cpu_steps``, for a
            repeat read back from JSON (where they are kept, so that a resumed run times its
            finished repeats as they were timed). (default: ``[]``)
    """

    repeat: int
    seeds: dict[str, int]
    test_accs: list[float]
    val_history: list[list[float]]
    best_val_acc: float
    best_episode: int
    episodes: int
    train_seconds: float
    tested: str = "best"
    averaging: dict[str, Any] | None = None
    cpu_seconds: float = 0.0
    diverged: dict[str, Any] | None = None
    cpu_steps: list[float] = field(default_factory=list, repr=False)
    cpu_blocks: list[float] = field(default_factory=list, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RepeatResult:
        """The repeat that :meth:`to_dict` wrote (its derived numbers recomputed)."""
        names = {f.name for f in fields(cls)} - {"cpu_steps", "cpu_blocks"}
        kwargs = {k: v for k, v in d.items() if k in names}
        if kwargs.get("best_val_acc") is None:  # NaN is written as null
            kwargs["best_val_acc"] = math.nan
        return cls(**kwargs, cpu_blocks=list(d.get("cpu_block_seconds") or []))

    @property
    def blocks(self) -> list[float]:
        """The CPU time of each block of :data:`BLOCK` steps (:func:`block_means`)."""
        return block_means(self.cpu_steps) if self.cpu_steps else self.cpu_blocks

    @property
    def mean(self) -> float:
        """Mean test accuracy of this repeat (NaN if it diverged)."""
        if not self.test_accs:
            return math.nan
        return math.fsum(self.test_accs) / len(self.test_accs)

    @property
    def seconds_per_200(self) -> float:
        """Training seconds per 200 episodes (wall clock)."""
        return self.train_seconds / max(self.episodes, 1) * 200.0

    @property
    def cpu_seconds_per_200(self) -> float:
        """Training seconds per 200 episodes (process CPU time; 200 × :func:`block_median`
        of the steps when they were recorded, else from the total)."""
        blocks = self.blocks
        if blocks:
            return 200.0 * statistics.median(blocks)
        return self.cpu_seconds / max(self.episodes, 1) * 200.0

    def as_dict(self) -> dict[str, Any]:
        """Deprecated name of :meth:`to_dict`."""
        warnings.warn("RepeatResult.as_dict is deprecated; use to_dict", DeprecationWarning, 2)
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Every field but ``cpu_steps`` (their :attr:`blocks` instead, as
        ``cpu_block_seconds``), with the mean and the times per 200 episodes, JSON-ready."""
        out = asdict(self)
        del out["cpu_steps"], out["cpu_blocks"]
        out.update(mean=self.mean, seconds_per_200=self.seconds_per_200,
                   cpu_seconds_per_200=self.cpu_seconds_per_200, cpu_block_seconds=self.blocks)
        return out


@dataclass
class FSNCResult:
    """The outcome of an episodic experiment over all its repeats.

    Accuracy is reported as mean ± 95% CI over *all* test tasks of all repeats
    (:func:`mean_and_ci95`), with the per-repeat means alongside; time as training
    seconds per 200 episodes over all repeats, by the wall clock and by process CPU time.
    A result with a diverged repeat (:attr:`diverged`) reports no accuracy: its finished
    repeats are kept, but the method did not train on every seed.

    Args:
        repeats (list of RepeatResult): one per repeat.
        config (dict): every setting of the run.
    """

    repeats: list[RepeatResult]
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FSNCResult:
        """The result that :meth:`to_dict` wrote: its repeats and config."""
        return cls([RepeatResult.from_dict(r) for r in d.get("repeats", [])],
                   dict(d.get("config", {})))

    @property
    def test_accs(self) -> list[float]:
        return [a for r in self.repeats for a in r.test_accs]

    @property
    def num_tasks(self) -> int:
        return len(self.test_accs)

    @property
    def diverged(self) -> dict[str, Any] | None:
        """The first diverged repeat's record (with its ``repeat``), or ``None``."""
        for r in self.repeats:
            if r.diverged is not None:
                return {"repeat": r.repeat, **r.diverged}
        return None

    @property
    def mean(self) -> float:
        if self.diverged is not None or not self.test_accs:
            return math.nan
        return mean_and_ci95(self.test_accs)[0]

    @property
    def ci95(self) -> float:
        if self.diverged is not None or not self.test_accs:
            return math.nan
        return mean_and_ci95(self.test_accs)[1]

    @property
    def repeat_means(self) -> list[float]:
        return [r.mean for r in self.repeats]

    @property
    def seconds_per_200(self) -> float:
        """Training seconds per 200 episodes over all repeats (wall clock)."""
        episodes = sum(r.episodes for r in self.repeats)
        return sum(r.train_seconds for r in self.repeats) / max(episodes, 1) * 200.0

    @property
    def cpu_seconds_per_200(self) -> float:
        """Training seconds per 200 episodes over all repeats by process CPU time: 200 ×
        :func:`block_median` of the steps of every repeat (the figure to compare optimizers
        by, measured as ``fgsam bench`` does); from the totals where no steps were recorded."""
        blocks = [b for r in self.repeats for b in r.blocks]
        if blocks:
            return 200.0 * statistics.median(blocks)
        episodes = sum(r.episodes for r in self.repeats)
        return sum(r.cpu_seconds for r in self.repeats) / max(episodes, 1) * 200.0

    @property
    def cpu_seconds(self) -> float:
        """Process CPU time of all training steps of all repeats."""
        return sum(r.cpu_seconds for r in self.repeats)

    def summary(self) -> str:
        """``acc 71.23 ± 1.05 (95% CI over 500 tasks) · 0.84 s / 200 episodes``, or where
        it diverged."""
        d = self.diverged
        if d is not None:
            where = f"{d['pass']} pass, " if d.get("pass") else ""
            return (f"diverged in repeat {d['repeat'] + 1} at episode {d['episode']} "
                    f"({where}{d['repeat']} repeats finished before it)")
        return (f"acc {100 * self.mean:.2f} ± {100 * self.ci95:.2f} (95% CI over "
                f"{self.num_tasks} tasks) · {self.seconds_per_200:.2f} s / 200 episodes")

    def as_dict(self) -> dict[str, Any]:
        """Deprecated name of :meth:`to_dict`."""
        warnings.warn("FSNCResult.as_dict is deprecated; use to_dict", DeprecationWarning, 2)
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Every number, JSON-ready (accuracies in percent at the top level; NaN, which
        the JSON writer turns into ``null``, where there is none, e.g. after a
        divergence)."""
        accs = self.test_accs
        return {
            "accuracy": {
                "mean": 100 * self.mean,
                "ci95": 100 * self.ci95,
                "num_tasks": len(accs),
                "min": 100 * min(accs) if accs else math.nan,
                "max": 100 * max(accs) if accs else math.nan,
                "repeat_means": [100 * m for m in self.repeat_means],
            },
            "seconds_per_200_episodes": self.seconds_per_200,
            "cpu_seconds_per_200_episodes": self.cpu_seconds_per_200,
            "cpu_seconds_total": self.cpu_seconds,
            "episodes_trained": [r.episodes for r in self.repeats],
            "diverged": self.diverged,
            "repeats": [r.to_dict() for r in self.repeats],
            "config": self.config,
        }

    def __repr__(self) -> str:
        return f"FSNCResult({self.summary()}, repeats={len(self.repeats)})"


def paired_differences(results: dict[str, FSNCResult]) -> dict[str, PairedDifference | None]:
    """Each optimizer after the first against the first, task by task
    (:func:`fgsam._paired.paired_difference`: mean, 95% bootstrap interval over repeats and
    tasks, Wilcoxon p), over the repeats both have finished: the optimizers of one
    comparison are tested on identical tasks. ``None`` where either diverged or none is
    finished.

    Example:
        >>> paired_differences({"adam": adam, "fgsam+": plus})["fgsam+"].cell()
        '+1.23 [-0.40, +2.90] p=0.031'
    """
    (_, base), *others = results.items()
    out: dict[str, PairedDifference | None] = {}
    for name, r in others:
        diverged = base.diverged is not None or r.diverged is not None
        out[name] = None if diverged else paired_or_none(
            [x.test_accs for x in base.repeats], [x.test_accs for x in r.repeats])
    return out


def paired_to_dict(baseline: str, d: PairedDifference | None) -> dict[str, Any] | None:
    """A :class:`PairedDifference` of accuracies as the JSON holds it: the mean and
    interval in percentage points, with the baseline's name."""
    if d is None:
        return None
    return {"baseline": baseline, **d.to_dict(), "mean": 100 * d.mean, "low": 100 * d.low,
            "high": 100 * d.high}


__all__ = ["BLOCK", "FSNCResult", "RepeatResult", "block_means", "block_median", "mean_and_ci95",
           "paired_differences", "paired_to_dict", "write_json"]
