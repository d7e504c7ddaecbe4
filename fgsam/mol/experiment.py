"""A full molecule experiment: every optimizer × every seed on one dataset and split."""

from __future__ import annotations

import math
import os
import platform
import sys
from typing import Any

import torch

from fgsam._experiment import (
    ResultsFile,
    checkpoint_folders,
    comparison_table,
    mean_std,
    summary_line,
    where_diverged,
)
from fgsam._version import __version__
from fgsam.data.molecule_dataset import MoleculeDataset
from fgsam.mol.config import MolConfig, build_optimizer_and_arguments, check_molecule_optimizer
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.model import model_arguments, save_mol_checkpoint
from fgsam.mol.split import MoleculeSplit
from fgsam.mol.train import MolRun, train_molecules
from fgsam.optim.swad import WEIGHT_AVERAGES, check_swad_options


def check_optimizers(config: MolConfig) -> None:
    """Refuse, before any data is loaded, optimizer names that cannot train molecules
    and averaging settings SWAD does not take."""
    probe = torch.nn.Linear(1, 1)
    for name in config.optimizers:
        options = config.options.get(name, {})
        check_molecule_optimizer(name)  # its ValueError, not the TypeError of an option
        try:
            build_optimizer_and_arguments(probe, config, name, total_steps=1, seed=0)
        except TypeError as err:  # an option the optimizer does not take
            raise ValueError(f"optimizer {name!r} with options {options}: {err}") from err
    if config.average is not None and config.average not in WEIGHT_AVERAGES:
        raise ValueError(f"average must be None or one of {', '.join(WEIGHT_AVERAGES)}, got "
                         f"{config.average!r}")
    if config.average is None and config.average_options:
        raise ValueError(f"average_options {config.average_options} need average='swad'")
    if config.average is not None:
        check_swad_options(config.average_options)


def summarize(runs: list[MolRun]) -> dict[str, Any]:
    """Mean ± std over seeds of the test and validation metrics, and the mean epoch time
    by the wall clock and by process CPU time.

    If a run diverged the metrics are NaN (``null`` in the JSON): a mean over the seeds
    that happened to survive would look better than the method is; every run's own
    numbers stay under ``seeds``, and ``diverged`` lists where each diverged run failed.
    The times average the runs that finished at least one epoch.
    """
    diverged = [{"seed": r.seed, **r.diverged} for r in runs if r.diverged is not None]
    if diverged:
        test = valid = (math.nan, math.nan)
    else:
        test, valid = mean_std([r.test for r in runs]), mean_std([r.valid for r in runs])
    timed = [r for r in runs if math.isfinite(r.seconds_per_epoch)]
    return {"test_mean": test[0], "test_std": test[1], "valid_mean": valid[0],
            "valid_std": valid[1],
            "seconds_per_epoch": mean_std([r.seconds_per_epoch for r in timed])[0],
            "cpu_seconds_per_epoch": mean_std([r.cpu_seconds_per_epoch for r in timed])[0],
            "diverged": diverged, "seeds": [r.to_dict() for r in runs]}


def run_experiment(config: MolConfig, device: torch.device | str = "cpu",
                   ctx: DistributedContext | None = None, out: str | os.PathLike[str] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None,
                   progress: bool = True,
                   log_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train every optimizer of ``config`` with every seed and summarise.

    All optimizers see the same split and the same seeds (model initialisation, batch
    order, dropout and the optimizer's own draws). Seeds are the outer loop: seed ``s``
    of every optimizer runs before seed ``s + 1``, so a change of the machine's load
    during the experiment hits all optimizers alike. Every split is made before the
    first run, so a part too small is refused before any training.

    Writes ``out`` (JSON: the configuration, the dataset, per seed and per epoch numbers,
    mean ± std) atomically before the first run and again after every run, with
    ``"complete": false`` until the last, so an interrupt or a later failure keeps every
    finished run. A diverged run (:attr:`MolRun.diverged`) is recorded, listed under
    ``"diverged"`` and the experiment goes on with the other runs. With
    ``checkpoint_dir`` the best validation model of each finished run is saved (in
    ``checkpoint_dir`` itself for a single run, else in
    ``checkpoint_dir/<optimizer>/seed<k>``); a checkpoint that cannot be written is
    listed under ``"checkpoint_errors"`` and the experiment goes on. Only rank 0 writes
    and prints. Returns what ``out`` holds (with NaN where the JSON has ``null``).

    Example:
        >>> results = run_experiment(MolConfig(optimizers=["adam", "graphsam"], epochs=20))
    """
    ctx = ctx or DistributedContext()
    check_optimizers(config)
    dataset = _load_dataset(config, ctx)
    parts = []
    for seed in config.seeds:
        split_seed = config.split_seed if config.split_seed is not None else seed
        parts.append(MoleculeSplit.make(dataset, config.split, split_seed,
                                        config.max_molecules))
    splits = [{"seed": seed, "kind": data.kind, "split": data.origin, "split_seed": data.seed,
               **data.sizes}
              for seed, data in zip(config.seeds, parts)]
    folders = checkpoint_folders(checkpoint_dir, config.optimizers, config.seeds)
    runs: dict[str, list[MolRun]] = {name: [] for name in config.optimizers}
    head = {
        "config": config.to_dict(),
        "dataset": {"name": dataset.name, "source": dataset.source_kind,
                    "molecules": len(dataset),
                    "ogb_graphs": dataset.info.stats.get("ogb_graphs"),
                    "invalid_smiles_skipped": len(dataset.skipped), "tasks": dataset.num_tasks,
                    "task_type": dataset.task_type, "metric": dataset.eval_metric,
                    "source_sha256": dataset.source_sha256, "split": parts[0].origin},
        "splits": splits,
        # the sizes the models were built with (the config keeps None for "the default")
        "model_arguments": model_arguments(config.model, **config.model_kwargs()),
        "environment": {"fgsam": __version__, "torch": torch.__version__,
                        "python": platform.python_version(), "device": str(device),
                        "processes": ctx.world_size, "threads": torch.get_num_threads()},
    }

    results_file = ResultsFile(out, head, runs, config.seeds, summarize,
                               lambda r: _print_results(config, dataset, r), ctx.is_main)
    checkpoint_errors = results_file.checkpoint_errors
    record, write = results_file.record, results_file.write

    if ctx.is_main and (note := ogb_count_note(dataset, config.split)) is not None:
        print(f"fgsam mol: note: {note}", file=sys.stderr)
    write(complete=False)
    for seed, data in zip(config.seeds, parts):
        for name in config.optimizers:
            run = train_molecules(config, data, name, seed, device, ctx,
                                  keep_best_state=bool(folders), progress=progress,
                                  log_dir=log_dir)
            runs[name].append(run)
            if folders and ctx.is_main and run.diverged is None:
                folder = folders[(name, seed)]
                try:
                    save_mol_checkpoint(folder, run.best_state, {
                        **config.to_dict(), "optimizer": name, "seed": seed,
                        "split_seed": data.seed if data.seed is not None else seed,
                        "num_tasks": dataset.num_tasks, "metric": dataset.eval_metric,
                        "best_epoch": run.best_epoch, "valid": run.valid, "test": run.test,
                        "sizes": data.sizes, "optimizer_arguments": run.optimizer_arguments,
                        "averaging": run.averaging})
                except OSError as err:  # the results themselves are still written
                    checkpoint_errors.append(f"{folder}: {err.strerror or err}")
            run.model = run.best_state = None  # free memory between runs
            write(complete=False)
    results = record(complete=True)
    if ctx.is_main:
        _print_results(config, dataset, results)
    write(complete=True)
    return results


def ogb_count_note(dataset: MoleculeDataset, split: str) -> str | None:
    """A line saying that the molecules kept differ from OGB's graphs of the dataset, so a
    scaffold split is not OGB's split (``None`` when the counts agree, for other splits and
    when OGB's own folder was read: the graphs and split are then OGB's)."""
    ogb = dataset.info.stats.get("ogb_graphs")
    if split != "scaffold" or ogb is None or len(dataset) == ogb or dataset.source_kind == "ogb":
        return None
    return (f"{dataset.name}: {len(dataset):,} molecules kept ({len(dataset.skipped)} invalid "
            f"SMILES skipped) where OGB's version has {ogb:,} graphs: the scaffold split is "
            f"made the same way but is not OGB's split, so the test metric is not directly "
            f"comparable with OGB's leaderboard")


def _print_results(config: MolConfig, dataset: MoleculeDataset, results: dict[str, Any]) -> None:
    # One line per optimizer, then (comparing several) the table.
    summaries = {}
    for name in config.optimizers:
        label = name if config.average is None else f"{name} + {config.average}"
        summaries[label] = results["results"][name]
        print(summary_line(dataset.name, config.model, label, dataset.eval_metric,
                           summaries[label]))
    if len(summaries) > 1:
        print()
        print(comparison_table(summaries, dataset.eval_metric))


def _load_dataset(config: MolConfig, ctx: DistributedContext) -> MoleculeDataset:
    # Rank 0 builds the cache; the others then read it instead of featurising again.
    if not ctx.is_main:
        ctx.barrier()
    dataset = MoleculeDataset(config.dataset, config.root, config.cache_dir, log=ctx.is_main)
    if ctx.is_main:
        ctx.barrier()
    return dataset


__all__ = [
    "check_optimizers",
    "checkpoint_folders",
    "comparison_table",
    "mean_std",
    "ogb_count_note",
    "run_experiment",
    "summarize",
    "summary_line",
    "where_diverged",
]
