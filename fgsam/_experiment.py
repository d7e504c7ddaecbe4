"""What every training experiment shares: mean ± std over seeds, the printed summary and
table, checkpoint folders, and the results file rewritten after every run."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fgsam._io import write_json
from fgsam._paired import PairedDifference, interval_cell, paired_or_none


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one finite value, NaN for one NaN)."""
    if not values:
        return math.nan, math.nan
    t = torch.tensor(values, dtype=torch.float64)
    if len(values) == 1:
        return float(t[0]), 0.0 if math.isfinite(values[0]) else math.nan
    return float(t.mean()), float(t.std())


def where_diverged(record: dict[str, Any]) -> str:
    """``"seed 0, epoch 3, step 17, ascent pass"``: where a run diverged, in words."""
    step = f", step {record['step']}" if record.get("step") is not None else ""
    seed = f"seed {record['seed']}, " if "seed" in record else ""
    return f"{seed}epoch {record['epoch']}{step}, {record['pass']} pass"


def summary_line(dataset: str, model: str, optimizer: str, metric: str,
                 summary: dict[str, Any]) -> str:
    """One line: ``dataset model optimizer: test metric mean ± std (n seeds), s/epoch``, or
    on how many seeds and where the optimizer diverged."""
    n = len(summary["seeds"])
    seeds = f"{n} seed{'s' * (n != 1)}"
    timing = (f"{summary['seconds_per_epoch']:.2f} s/epoch "
              f"({summary['cpu_seconds_per_epoch']:.2f} CPU s/epoch)")
    diverged = summary.get("diverged") or []
    if diverged:
        return (f"{dataset} {model} {optimizer}: diverged on {len(diverged)} of {seeds} "
                f"(first: {where_diverged(diverged[0])}); no mean over seeds, {timing}")
    return (f"{dataset} {model} {optimizer}: test {metric} {summary['test_mean']:.4f} ± "
            f"{summary['test_std']:.4f} (valid {summary['valid_mean']:.4f} ± "
            f"{summary['valid_std']:.4f}; {seeds}), {timing}")


def comparison_table(summaries: dict[str, dict[str, Any]], metric: str) -> str:
    """A markdown table, one row per optimizer (keyed by its label): test and validation
    metric mean ± std over seeds, the paired difference from the first optimizer that
    :meth:`ResultsFile.record` put in each summary (``vs_baseline``, :func:`seed_differences`),
    seconds per training epoch by the wall clock and by
    process CPU time, and the CPU time against the first optimizer's (the comparison a
    loaded machine does not distort). A diverged optimizer shows where instead of a
    metric."""
    first_name, first = next(iter(summaries.items()))
    base = first["cpu_seconds_per_epoch"]
    lines = [f"| optimizer | test {metric} mean ± std | Δ test vs {first_name} (95% CI), p | "
             f"valid {metric} mean ± std | s / epoch | CPU s / epoch | CPU time vs {first_name} |",
             "|---|---|---|---|---|---|---|"]
    for name, r in summaries.items():
        d = r.get("vs_baseline")  # the record's paired difference (ResultsFile.record)
        delta = "–" if d is None else interval_cell(d["mean"], d["low"], d["high"],
                                                    d["p_value"], 4)
        diverged = r.get("diverged") or []
        if diverged:
            n = len(r["seeds"])
            test = (f"diverged on {len(diverged)} of {n} seed{'s' * (n != 1)} "
                    f"({where_diverged(diverged[0])})")
            valid = "–"
        else:
            test = f"{r['test_mean']:.4f} ± {r['test_std']:.4f}"
            valid = f"{r['valid_mean']:.4f} ± {r['valid_std']:.4f}"
        cpu = r["cpu_seconds_per_epoch"]
        ratio = f"{cpu / base:.2f}×" if math.isfinite(cpu) and math.isfinite(base) and base > 0 \
            else "–"
        lines.append(f"| {name} | {test} | {delta} | {valid} | {r['seconds_per_epoch']:.2f} | "
                     f"{cpu:.2f} | {ratio} |")
    return "\n".join(lines)


def seed_differences(summaries: dict[str, dict[str, Any]]) -> dict[str, PairedDifference | None]:
    """Each optimizer after the first against the first, seed by seed on the test metric
    (:func:`fgsam._paired.paired_difference`: the runs of one seed share weights, splits
    and batches): mean, 95% bootstrap interval over seeds, Wilcoxon p. ``None`` where either
    diverged or no seed is finished by both.

    Example:
        >>> seed_differences(record["results"])["fgsam+"].cell(1.0, 4)
        '+0.0210 [+0.0120, +0.0300] p=0.062'
    """
    (_, base), *others = summaries.items()
    first = {s["seed"]: s["test"] for s in base["seeds"]}
    out: dict[str, PairedDifference | None] = {}
    for name, r in others:
        mine = {s["seed"]: s["test"] for s in r["seeds"]}
        common = [k for k in first if k in mine]
        out[name] = None if base["diverged"] or r["diverged"] else paired_or_none(
            [[first[k]] for k in common], [[mine[k]] for k in common])
    return out


def checkpoint_folders(checkpoint_dir: str | os.PathLike[str] | None, optimizers: list[str],
                       seeds: list[int]) -> dict[tuple[str, int], Path]:
    """Where each run's checkpoint goes: ``checkpoint_dir`` itself for a single run, else
    ``checkpoint_dir/<optimizer>/seed<k>``; empty without ``checkpoint_dir``."""
    if checkpoint_dir is None:
        return {}
    folder = Path(checkpoint_dir)
    if len(optimizers) * len(seeds) == 1:
        return {(optimizers[0], seeds[0]): folder}
    return {(name, seed): folder / name / f"seed{seed}" for seed in seeds for name in optimizers}


class Diverged(Exception):
    """A run's loss or predictions became non-finite: ``record`` says where (``epoch``,
    ``step``, ``pass``, ``message``), as the results list it."""

    def __init__(self, epoch: int, step: int | None, pass_name: str, message: str) -> None:
        super().__init__(message)
        self.record = {"epoch": epoch, "step": step, "pass": pass_name, "message": message}


def failed_pass(err: FloatingPointError) -> str:
    """The pass a sharpness-aware optimizer's :class:`FloatingPointError` names (its
    ``pass_name``: ``"ascent"``, ``"descent"``, ...), else ``"training"``."""
    return str(getattr(err, "pass_name", None) or "training")


class ResultsFile:
    """The JSON of an experiment, written atomically before the first run and again after
    every run, with ``"complete": false`` until the last, so that an interrupt or a later
    failure keeps every finished run.

    ``runs`` (optimizer name -> its finished runs, each with ``seed`` and ``diverged``) is
    read at every write; ``summarize`` turns one optimizer's runs into its summary;
    ``show`` prints a record (called when the file cannot be written, so the numbers are
    not lost). Only the main process writes.

    Example:
        >>> results = ResultsFile("out.json", head, runs, seeds, summarize, show)
        >>> results.write(complete=False)
    """

    def __init__(self, out: str | os.PathLike[str] | None, head: dict[str, Any],
                 runs: dict[str, list[Any]], seeds: list[int],
                 summarize: Callable[[list[Any]], dict[str, Any]],
                 show: Callable[[dict[str, Any]], None], is_main: bool = True) -> None:
        self.out, self.head, self.runs, self.seeds = out, head, runs, seeds
        self.summarize, self.show, self.is_main = summarize, show, is_main
        self.checkpoint_errors: list[str] = []

    def record(self, complete: bool) -> dict[str, Any]:
        """Everything the file holds: the head, the summaries, the diverged runs (seed
        order) and the checkpoints that could not be written."""
        diverged = [{"optimizer": name, "seed": r.seed, **r.diverged}
                    for seed in self.seeds for name, rs in self.runs.items()
                    for r in rs if r.seed == seed and r.diverged is not None]
        results = {name: self.summarize(r) for name, r in self.runs.items()}
        first = next(iter(results), None)
        for name, d in (seed_differences(results) if results else {}).items():
            results[name]["vs_baseline"] = None if d is None else {"baseline": first,
                                                                   **d.to_dict()}
        return {**self.head, "complete": complete, "diverged": diverged,
                "checkpoint_errors": list(self.checkpoint_errors), "results": results,
                "command": " ".join(sys.argv)}

    def write(self, complete: bool) -> None:
        """Rewrite the file (nothing without ``out`` or off the main process); an
        ``OSError`` prints what finished first and names how many runs that was."""
        if self.out is None or not self.is_main:
            return
        try:
            write_json(self.out, self.record(complete))
        except OSError as err:
            done = sum(len(r) for r in self.runs.values())
            self.show(self.record(complete))  # what finished is not lost
            raise OSError(f"cannot write the results to {self.out} ({err.strerror or err}) "
                          f"after {done} of {len(self.seeds) * len(self.runs)} runs; the file "
                          f"keeps its previous version") from err


__all__ = [
    "Diverged",
    "ResultsFile",
    "checkpoint_folders",
    "comparison_table",
    "failed_pass",
    "mean_std",
    "seed_differences",
    "summary_line",
    "where_diverged",
]
