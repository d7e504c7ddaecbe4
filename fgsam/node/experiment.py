"""A node-classification experiment: every optimizer × every seed on one graph."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import torch

from fgsam._distributed import DistributedContext
from fgsam._experiment import (
    ResultsFile,
    checkpoint_folders,
    comparison_table,
    mean_std,
    summary_line,
)
from fgsam._io import torch_save, write_json
from fgsam._version import __version__
from fgsam.node.config import NodeConfig, build_node_optimizer
from fgsam.node.graph import NodeGraph
from fgsam.node.models import build_node_model
from fgsam.node.train import NodeRun, train_node

#: The files of a checkpoint folder.
CONFIG, WEIGHTS = "config.json", "model.pt"


def check_optimizers(config: NodeConfig) -> None:
    """Refuse, before any data is loaded, optimizer names and options that cannot be built."""
    probe = torch.nn.Linear(1, 1)
    for name in config.optimizers:
        try:
            build_node_optimizer(probe, config, name, total_steps=1, seed=0)
        except TypeError as err:  # an option the optimizer does not take
            raise ValueError(f"optimizer {name!r} with options {config.options.get(name, {})}:"
                             f" {err}") from err


def summarize(runs: list[NodeRun]) -> dict[str, Any]:
    """Mean ± std over seeds of test and validation accuracy, the mean epoch time (wall
    clock and process CPU time) and throughput, and every run's own numbers. A diverged
    run makes the means NaN (a mean over the surviving seeds would flatter the method)."""
    diverged = [{"seed": r.seed, **r.diverged} for r in runs if r.diverged is not None]
    test = valid = (math.nan, math.nan)
    if not diverged:
        test, valid = mean_std([r.test for r in runs]), mean_std([r.valid for r in runs])
    timed = [r for r in runs if math.isfinite(r.seconds_per_epoch)]
    peak = [max(r.peak_memory_mb) for r in runs if r.peak_memory_mb]
    return {"test_mean": test[0], "test_std": test[1], "valid_mean": valid[0],
            "valid_std": valid[1],
            "seconds_per_epoch": mean_std([r.seconds_per_epoch for r in timed])[0],
            "cpu_seconds_per_epoch": mean_std([r.cpu_seconds_per_epoch for r in timed])[0],
            "seed_nodes_per_second": mean_std([r.seed_nodes_per_second for r in timed])[0],
            "peak_memory_mb_per_process": max(peak) if peak else math.nan,
            "diverged": diverged, "seeds": [r.to_dict() for r in runs]}


def save_node_checkpoint(folder: Path, run: NodeRun, config: NodeConfig,
                         graph: NodeGraph) -> None:
    """``model.pt`` (the best-validation weights) and ``config.json`` (written last: a folder
    with one is complete), each atomically."""
    torch_save(folder / WEIGHTS, run.best_state)
    write_json(folder / CONFIG, {**config.to_dict(), "optimizer": run.optimizer,
                                 "seed": run.seed, "best_epoch": run.best_epoch,
                                 "valid": run.valid, "test": run.test,
                                 "num_features": graph.num_features,
                                 "num_classes": graph.num_classes,
                                 "optimizer_arguments": run.optimizer_arguments})


def load_node_model(folder: str | os.PathLike[str], device: torch.device | str = "cpu"
                    ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a ``fgsam node --save-checkpoint`` folder and its settings."""
    from fgsam._io import read_json_object

    folder = Path(folder)
    config = read_json_object(folder / CONFIG, "a fgsam node checkpoint config")
    settings = NodeConfig.from_dict(config)
    model = build_node_model(settings.model, config["num_features"], config["num_classes"],
                             **settings.model_kwargs())
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location=device, weights_only=True))
    return model.to(device), config


def run_experiment(config: NodeConfig, graph: NodeGraph, device: torch.device | str = "cpu",
                   ctx: DistributedContext | None = None,
                   out: str | os.PathLike[str] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None,
                   progress: bool = True,
                   log_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train every optimizer of ``config`` with every seed on ``graph`` and summarise.

    Seeds are the outer loop (seed ``s`` of every optimizer before seed ``s + 1``, so a
    change of the machine's load hits all optimizers alike). ``out`` (JSON: settings,
    graph, environment, per seed and per epoch numbers, mean ± std) is written atomically
    before the first run and after every run, with ``"complete": false`` until the last,
    so an interrupt keeps every finished run. A diverged run is recorded and the others
    go on. With ``checkpoint_dir`` each finished run's best-validation model is saved
    (``checkpoint_dir`` itself for a single run, else ``checkpoint_dir/<optimizer>/seed<k>``);
    one that cannot be written is listed under ``"checkpoint_errors"``. Only rank 0
    writes and prints. With ``log_dir`` each run's epochs also go to a CSV (and TensorBoard
    events where installed) as they come: ``log_dir/<optimizer>-seed<k>.csv``.

    Example:
        >>> results = run_experiment(NodeConfig("cora", optimizers=["adam", "fgsam+"]), graph)
    """
    ctx = ctx or DistributedContext()
    folders = checkpoint_folders(checkpoint_dir, config.optimizers, config.seeds)
    runs: dict[str, list[NodeRun]] = {name: [] for name in config.optimizers}
    head = {"config": config.to_dict(), "dataset": graph.summary(),
            "environment": {"fgsam": __version__, "torch": torch.__version__,
                            "python": platform.python_version(), "device": str(device),
                            "processes": ctx.world_size, "threads": torch.get_num_threads()}}

    results_file = ResultsFile(out, head, runs, config.seeds, summarize,
                               lambda r: print_results(config, r), ctx.is_main)
    checkpoint_errors = results_file.checkpoint_errors
    record, write = results_file.record, results_file.write

    write(complete=False)
    for seed in config.seeds:
        for name in config.optimizers:
            run = train_node(config, graph, name, seed, device, ctx,
                             keep_best_state=bool(folders), progress=progress,
                             log_dir=log_dir)
            runs[name].append(run)
            if folders and ctx.is_main and run.diverged is None:
                try:
                    save_node_checkpoint(folders[(name, seed)], run, config, graph)
                except OSError as err:  # the results themselves are still written
                    checkpoint_errors.append(f"{folders[(name, seed)]}: {err.strerror or err}")
            run.best_state = None  # free memory between runs
            write(complete=False)
    results = record(complete=True)
    if ctx.is_main:
        print_results(config, results)
    write(complete=True)
    return results


def print_results(config: NodeConfig, results: dict[str, Any]) -> None:
    """One line per optimizer, then (comparing several) the table."""
    mode = "full-batch" if not config.sampled else f"sampled {config.fanout}"
    summaries = {}
    for name in config.optimizers:
        summaries[name] = results["results"][name]
        print(summary_line(config.dataset_label(), f"{config.model} {mode}", name, "accuracy",
                           summaries[name]))
    if len(summaries) > 1:
        print()
        print(comparison_table(summaries, "accuracy"))


__all__ = ["CONFIG", "WEIGHTS", "check_optimizers", "load_node_model", "print_results",
           "run_experiment", "save_node_checkpoint", "summarize"]
