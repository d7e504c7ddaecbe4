"""Few-shot results: per-repeat records, the 95% confidence interval, atomic JSON writing."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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
        train_seconds (float): time in forward + backward + optimizer step only.
        tested (str): ``"best"`` (best validation checkpoint), ``"last"`` model or
            ``"swad"`` (the SWAD average).
        averaging (dict, optional): with SWAD, its settings, validation losses and window
            (:meth:`fgsam.optim.SWAD.as_dict`, plus ``first_episode`` / ``last_episode``,
            the averaged episodes). (default: ``None``)
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

    @property
    def mean(self) -> float:
        """Mean test accuracy of this repeat."""
        return math.fsum(self.test_accs) / len(self.test_accs)

    @property
    def seconds_per_200(self) -> float:
        """Training seconds per 200 episodes."""
        return self.train_seconds / max(self.episodes, 1) * 200.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(mean=self.mean, seconds_per_200=self.seconds_per_200)
        return out


@dataclass
class FSNCResult:
    """The outcome of an episodic experiment over all its repeats.

    Accuracy is reported as mean ± 95% CI over *all* test tasks of all repeats
    (:func:`mean_and_ci95`), with the per-repeat means alongside; time as training
    seconds per 200 episodes over all repeats.

    Args:
        repeats (list of RepeatResult): one per repeat.
        config (dict): every setting of the run.
    """

    repeats: list[RepeatResult]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def test_accs(self) -> list[float]:
        return [a for r in self.repeats for a in r.test_accs]

    @property
    def num_tasks(self) -> int:
        return len(self.test_accs)

    @property
    def mean(self) -> float:
        return mean_and_ci95(self.test_accs)[0]

    @property
    def ci95(self) -> float:
        return mean_and_ci95(self.test_accs)[1]

    @property
    def repeat_means(self) -> list[float]:
        return [r.mean for r in self.repeats]

    @property
    def seconds_per_200(self) -> float:
        episodes = sum(r.episodes for r in self.repeats)
        return sum(r.train_seconds for r in self.repeats) / max(episodes, 1) * 200.0

    def summary(self) -> str:
        """``acc 71.23 ± 1.05 (95% CI over 500 tasks) · 0.84 s / 200 episodes``."""
        return (f"acc {100 * self.mean:.2f} ± {100 * self.ci95:.2f} (95% CI over "
                f"{self.num_tasks} tasks) · {self.seconds_per_200:.2f} s / 200 episodes")

    def as_dict(self) -> dict[str, Any]:
        """Every number, JSON-ready (accuracies in percent at the top level)."""
        accs = self.test_accs
        return {
            "accuracy": {
                "mean": 100 * self.mean,
                "ci95": 100 * self.ci95,
                "num_tasks": len(accs),
                "min": 100 * min(accs),
                "max": 100 * max(accs),
                "repeat_means": [100 * m for m in self.repeat_means],
            },
            "seconds_per_200_episodes": self.seconds_per_200,
            "episodes_trained": [r.episodes for r in self.repeats],
            "repeats": [r.as_dict() for r in self.repeats],
            "config": self.config,
        }

    def __repr__(self) -> str:
        return f"FSNCResult({self.summary()}, repeats={len(self.repeats)})"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically: a temporary file in the same folder,
    then :func:`os.replace`, so a failed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["FSNCResult", "RepeatResult", "mean_and_ci95", "write_json"]
