"""A full molecule experiment: every optimizer × every seed on one dataset and split."""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

import fgsam
from fgsam.mol.atomic import write_json
from fgsam.mol.build_optimizer import molecule_optimizer_arguments
from fgsam.mol.checkpoint import save_mol_checkpoint
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_dataset import MoleculeDataset
from fgsam.mol.molecule_split import MoleculeSplit
from fgsam.mol.train_molecules import MolRun, train_molecules
from fgsam.optim.registry import create_optimizer
from fgsam.optim.swad import WEIGHT_AVERAGES, check_swad_options


def check_optimizers(config: MolConfig) -> None:
    """Refuse, before any data is loaded, optimizer names that cannot train molecules
    and averaging settings SWAD does not take."""
    probe = torch.nn.Linear(1, 1)
    for name in config.optimizers:
        options = config.options.get(name, {})
        arguments = molecule_optimizer_arguments(name, options, rho=config.rho,
                                                 sync_ascent=config.sync_ascent, total_steps=1)
        try:
            create_optimizer(probe, name, base=config.base, lr=config.lr,
                             weight_decay=config.weight_decay, **arguments)
        except TypeError as err:  # an option the optimizer does not take
            raise ValueError(f"optimizer {name!r} with options {options}: {err}") from err
    if config.average is not None and config.average not in WEIGHT_AVERAGES:
        raise ValueError(f"average must be None or one of {', '.join(WEIGHT_AVERAGES)}, got "
                         f"{config.average!r}")
    if config.average is None and config.average_options:
        raise ValueError(f"average_options {config.average_options} need average='swad'")
    if config.average is not None:
        check_swad_options(config.average_options)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    if not values:
        return math.nan, math.nan
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def summarize(runs: list[MolRun]) -> dict[str, Any]:
    """Mean ± std over seeds of the test and validation metrics and of the epoch time."""
    test, valid = mean_std([r.test for r in runs]), mean_std([r.valid for r in runs])
    seconds = mean_std([r.seconds_per_epoch for r in runs])
    return {"test_mean": test[0], "test_std": test[1], "valid_mean": valid[0],
            "valid_std": valid[1], "seconds_per_epoch": seconds[0],
            "seeds": [r.to_dict() for r in runs]}


def summary_line(dataset: str, model: str, optimizer: str, metric: str,
                 summary: dict[str, Any]) -> str:
    """One line: ``dataset model optimizer: test metric mean ± std (n seeds), s/epoch``."""
    n = len(summary["seeds"])
    return (f"{dataset} {model} {optimizer}: test {metric} {summary['test_mean']:.4f} ± "
            f"{summary['test_std']:.4f} (valid {summary['valid_mean']:.4f} ± "
            f"{summary['valid_std']:.4f}; {n} seed{'s' * (n != 1)}), "
            f"{summary['seconds_per_epoch']:.2f} s/epoch")


def run_experiment(config: MolConfig, device: torch.device | str = "cpu",
                   ctx: DistributedContext | None = None, out: str | os.PathLike[str] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Train every optimizer of ``config`` with every seed and summarise.

    All optimizers see the same split and the same seeds (model initialisation, batch
    order and dropout). Writes ``out`` (JSON: the configuration, the dataset, per seed
    and per epoch numbers, mean ± std) atomically, and with ``checkpoint_dir`` the best
    validation model of each run (in ``checkpoint_dir`` itself for a single run, else in
    ``checkpoint_dir/<optimizer>/seed<k>``). Only rank 0 writes and prints.

    Example:
        >>> results = run_experiment(MolConfig(optimizers=["adam", "graphsam"], epochs=20))
    """
    ctx = ctx or DistributedContext()
    check_optimizers(config)
    dataset = _load_dataset(config, ctx)
    runs: dict[str, list[MolRun]] = {name: [] for name in config.optimizers}
    splits = []
    single = len(config.optimizers) * len(config.seeds) == 1
    for seed in config.seeds:
        split_seed = config.split_seed if config.split_seed is not None else seed
        data = MoleculeSplit.make(dataset, config.split, split_seed, config.max_molecules)
        splits.append({"seed": seed, "kind": data.kind, "split_seed": data.seed, **data.sizes})
        for name in config.optimizers:
            run = train_molecules(config, data, name, seed, device, ctx,
                                  keep_best_state=checkpoint_dir is not None, progress=progress)
            runs[name].append(run)
            if checkpoint_dir is not None and ctx.is_main:
                folder = Path(checkpoint_dir) if single else Path(checkpoint_dir) / name / \
                    f"seed{seed}"
                save_mol_checkpoint(folder, run.best_state, {
                    **config.to_dict(), "optimizer": name, "seed": seed,
                    "split_seed": split_seed, "num_tasks": dataset.num_tasks,
                    "metric": dataset.eval_metric, "best_epoch": run.best_epoch,
                    "valid": run.valid, "test": run.test, "sizes": data.sizes,
                    "optimizer_arguments": run.optimizer_arguments,
                    "averaging": run.averaging})
            run.model = run.best_state = None  # free memory between runs
    results = {
        "config": config.to_dict(),
        "dataset": {"name": dataset.name, "molecules": len(dataset),
                    "invalid_smiles_skipped": len(dataset.skipped), "tasks": dataset.num_tasks,
                    "task_type": dataset.task_type, "metric": dataset.eval_metric,
                    "source_sha256": dataset.source_sha256},
        "splits": splits,
        "environment": {"fgsam": fgsam.__version__, "torch": torch.__version__,
                        "python": platform.python_version(), "device": str(device),
                        "processes": ctx.world_size},
        "results": {name: summarize(r) for name, r in runs.items()},
        "command": " ".join(sys.argv),
    }
    if ctx.is_main:
        for name in config.optimizers:
            label = name if config.average is None else f"{name} + {config.average}"
            print(summary_line(dataset.name, config.model, label, dataset.eval_metric,
                               results["results"][name]))
        if out is not None:
            write_json(out, results)
    return results


def _load_dataset(config: MolConfig, ctx: DistributedContext) -> MoleculeDataset:
    # Rank 0 builds the cache; the others then read it instead of featurising again.
    if not ctx.is_main:
        ctx.barrier()
    dataset = MoleculeDataset(config.dataset, config.root, config.cache_dir, log=ctx.is_main)
    if ctx.is_main:
        ctx.barrier()
    return dataset


__all__ = ["check_optimizers", "mean_std", "run_experiment", "summarize", "summary_line"]
