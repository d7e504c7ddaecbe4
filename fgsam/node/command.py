"""``fgsam node``: node classification with any optimizer, in one process or under torchrun."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import torch

from fgsam._arguments import add_log_arguments, add_run_arguments, check_positive_flags
from fgsam._distributed import DistributedContext, init_distributed, shutdown_distributed
from fgsam._experiment import checkpoint_folders
from fgsam._io import check_output_dir, check_output_file
from fgsam._validate import resolve_device
from fgsam.data.catalog import list_datasets
from fgsam.data.neighbor_loader import BACKENDS
from fgsam.data.node_dataset import NodeDataset, load_node_dataset, synthetic_node_dataset
from fgsam.data.root import ENV_VAR
from fgsam.data.row_features import memmap_features
from fgsam.data.synthetic import SHAPES
from fgsam.nn.adjacency import ADJACENCIES
from fgsam.node.config import NodeConfig, node_optimizers
from fgsam.node.experiment import CONFIG, WEIGHTS, check_optimizers, run_experiment
from fgsam.node.graph import NORMALIZATIONS, NodeGraph
from fgsam.node.models import NODE_MODELS
from fgsam.optim.options import default_rho_text, parse_options

EXAMPLE = ("example: fgsam node --dataset cora --model gcn --optimizer adam,sam,fgsam,fgsam+ "
           "--repeats 5 --out cora.json; sampled: --shape ogbn-arxiv --batch-size 1024 "
           "--fanout 15,10,5 --layers 3; several processes: torchrun --nproc_per_node=N -m "
           "fgsam node ...")
#: Fan-outs per hop when ``--fanout`` is not given (the first ``--layers`` of them).
DEFAULT_FANOUT = (15, 10, 5)
NORMS = ("none", "batch", "layer")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam node``."""
    p = subparsers.add_parser(
        "node", help="node classification (Planetoid, OGB, ...) with any optimizer",
        description="Train a PyG GNN for node classification on a catalog graph with its "
                    "standard split (or a synthetic graph of a benchmark's shape), full-batch "
                    "or on sampled neighbourhoods, with one or more optimizers on the same "
                    "seeds; report the test accuracy at the best validation epoch (mean ± std "
                    "over seeds), the training time per epoch (wall clock and process CPU "
                    "time) and the seed nodes per second. Exit status: 0 done, 2 error, 3 some "
                    "run diverged (recorded in the output).", epilog=EXAMPLE)
    graphs = list_datasets("graph")
    p.add_argument("--dataset", default="cora", choices=graphs, metavar="NAME",
                   help=f"a catalog graph: {', '.join(graphs)}")
    p.add_argument("--shape", default=None, choices=sorted(SHAPES),
                   help="train on a synthetic graph of this benchmark's shape instead")
    p.add_argument("--scale", type=float, default=1.0,
                   help="with --shape: nodes and edges times this, in (0, 1]")
    p.add_argument("--model", default="gcn", choices=list(NODE_MODELS))
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--norm", default="none", choices=NORMS, help="normalisation after each "
                   "hidden layer")
    p.add_argument("--heads", type=int, default=4, help="attention heads (gat)")
    p.add_argument("--optimizer", default="adam",
                   help=f"comma-separated names: {', '.join(node_optimizers())} or a "
                        f"torch.optim name")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5, help="seeds --seed, --seed + 1, ...")
    p.add_argument("--seed", type=int, default=0, help="seed of the first run")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--rho", type=float, default=None,
                   help=f"radius of sharpness-aware optimizers (default: each one's own, "
                        f"{default_rho_text(node_optimizers())})")
    p.add_argument("--base", default="adam", help="base optimizer of sharpness-aware ones")
    p.add_argument("--sync-ascent", action="store_true",
                   help="under several processes, all-reduce the ascent gradient too "
                        "(default: each process perturbs by its own gradient)")
    p.add_argument("--opt-arg", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                   help="a further optimizer hyper-parameter, e.g. fgsam+.k=5 (repeatable)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="seed nodes per step and process: train on sampled neighbourhoods "
                        "(default: full-batch)")
    p.add_argument("--fanout", default=None,
                   help="in-edges sampled per node at each hop, one per layer, -1 for all "
                        f"(default: {','.join(map(str, DEFAULT_FANOUT))} cut to --layers)")
    p.add_argument("--eval-batch-size", type=int, default=4096,
                   help="target nodes per chunk of layer-wise inference")
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs")
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers that prefetch the sampled batches")
    p.add_argument("--loader", default="auto", choices=BACKENDS,
                   help="neighbour sampler: fgsam's, PyG's NeighborLoader (needs pyg-lib or "
                        "torch-sparse), or auto")
    p.add_argument("--features", default=None, metavar="FILE",
                   help="node features from a raw float32 row-major file [nodes, features], "
                        "read as a memmap (needs --batch-size)")
    p.add_argument("--adjacency", default="auto", choices=ADJACENCIES,
                   help="propagation: csr (one sparse product per layer), edge-index (PyG's "
                        "gather/scatter per edge) or auto (csr where exact for the model and "
                        "the graph has many edges)")
    p.add_argument("--normalize-features", default="auto", choices=NORMALIZATIONS,
                   help="row: divide each node's features by their sum (Kipf & Welling); auto: "
                        "row for non-negative features, else none")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the split where the dataset has no standard one")
    p.add_argument("--root", default=None, help=f"data root (default: ${ENV_VAR}, else "
                                                f"./datasets)")
    add_run_arguments(
        p, out_help="write every number to this JSON file (rewritten after every run)",
        checkpoint_help="save each run's best-validation model (config.json, model.pt); "
                        "DIR/<optimizer>/seed<k> when there are several runs")
    add_log_arguments(p, rows="epoch", file="<optimizer>-seed<k>")
    p.set_defaults(func=run)
    return p


POSITIVE = ("epochs", "repeats", "hidden", "layers", "heads", "batch_size", "eval_batch_size",
            "eval_every", "threads")


def parse_fanout(text: str | None, layers: int) -> list[int]:
    """``"15,10,5"`` → ``[15, 10, 5]``, one entry per layer (``-1``: all in-edges)."""
    if text is None:
        return [DEFAULT_FANOUT[min(i, len(DEFAULT_FANOUT) - 1)] for i in range(layers)]
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--fanout must be comma-separated integers, got {text!r}") from None
    if len(values) != layers:
        raise ValueError(f"--fanout {text!r} has {len(values)} entries for --layers {layers}: "
                         f"give one fan-out per layer, e.g. "
                         f"{','.join(map(str, parse_fanout(None, layers)))}")
    if any(v == 0 or v < -1 for v in values):
        raise ValueError(f"--fanout entries must be positive or -1 (all), got {text!r}")
    return values


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The :class:`NodeConfig` of parsed ``fgsam node`` arguments, checked."""
    check_positive_flags(args, POSITIVE)
    if args.num_workers < 0:
        raise ValueError(f"--num-workers must be >= 0, got {args.num_workers}")
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    if not 0.0 < args.scale <= 1.0:
        raise ValueError(f"--scale must be in (0, 1], got {args.scale}")
    if args.scale != 1.0 and args.shape is None:
        raise ValueError("--scale needs --shape (a synthetic graph); catalog graphs are used "
                         "whole")
    for name in ("lr", "weight_decay"):
        if not getattr(args, name) >= 0.0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got "
                             f"{getattr(args, name)}")
    if args.features is not None and args.batch_size is None:
        raise ValueError("--features (node features from disk) needs --batch-size: full-batch "
                         "training reads every row at every step")
    optimizers = [n.strip().lower() for n in args.optimizer.split(",") if n.strip()]
    if not optimizers or len(set(optimizers)) != len(optimizers):
        raise ValueError(f"--optimizer needs distinct comma-separated names, got "
                         f"{args.optimizer!r}")
    return NodeConfig(
        dataset=args.dataset, shape=args.shape, scale=args.scale, model=args.model,
        optimizers=optimizers, seeds=list(range(args.seed, args.seed + args.repeats)),
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, rho=args.rho,
        base=args.base, sync_ascent=args.sync_ascent,
        options=parse_options(args.opt_arg, optimizers, base=args.base), hidden=args.hidden,
        layers=args.layers, dropout=args.dropout,
        norm=None if args.norm == "none" else args.norm, heads=args.heads,
        batch_size=args.batch_size, fanout=parse_fanout(args.fanout, args.layers),
        eval_batch_size=args.eval_batch_size, eval_every=args.eval_every,
        num_workers=args.num_workers, loader=args.loader, split_seed=args.split_seed,
        root=args.root, features=args.features, normalize_features=args.normalize_features,
        adjacency=args.adjacency)


def load_dataset(config: NodeConfig, ctx: DistributedContext) -> NodeDataset:
    """The experiment's dataset; rank 0 first (OGB writes its processed cache once)."""
    if not ctx.is_main:
        ctx.barrier()
    try:
        if config.shape is not None:
            return synthetic_node_dataset(config.shape, config.scale,
                                          split_seed=config.split_seed)
        return load_node_dataset(config.dataset, config.root, split_seed=config.split_seed)
    finally:
        if ctx.is_main:
            ctx.barrier()


def disk_features(path: str, num_nodes: int) -> Any:
    """The float32 memmap of ``path`` with ``num_nodes`` rows (the width from its size)."""
    size = os.path.getsize(path)
    if size == 0 or size % (4 * num_nodes):
        raise ValueError(f"--features {path!r} has {size} bytes, not a whole number of float32 "
                         f"rows for the graph's {num_nodes} nodes (a multiple of "
                         f"{4 * num_nodes} bytes)")
    return memmap_features(path, num_nodes, size // (4 * num_nodes))


def check_world(graph: NodeGraph, ctx: DistributedContext) -> None:
    """Refuse more processes than training nodes (each process needs at least one)."""
    n = int(graph.train_idx.numel())
    if ctx.world_size > n:
        raise ValueError(f"world size {ctx.world_size} is larger than the {n} training nodes "
                         f"of {graph.dataset.name}: every process needs at least one; use at "
                         f"most {n} processes")


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam node``; returns the exit status (0 done, 3 some run diverged, 2 a
    checkpoint could not be written). Errors reach :func:`fgsam.cli.main`, which prints
    them as one line."""
    config = config_from_args(args)
    check_optimizers(config)
    device = resolve_device(args.device, "--device")
    check_output_file(args.out, "--out")
    check_output_dir(args.log_dir, "--log-dir")
    for folder in checkpoint_folders(args.save_checkpoint, config.optimizers,
                                     config.seeds).values():
        check_output_dir(folder, "--save-checkpoint", files=(CONFIG, WEIGHTS))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ctx, device = init_distributed(device)
    try:
        dataset = load_dataset(config, ctx)
        features = None if config.features is None else disk_features(
            config.features, dataset.data.num_nodes)
        graph = NodeGraph.make(dataset, config.model, device, features,
                               config.normalize_features)
        check_world(graph, ctx)
        results = run_experiment(config, graph, device, ctx, out=args.out,
                                 checkpoint_dir=args.save_checkpoint, progress=not args.quiet,
                                 log_dir=args.log_dir)
        ctx.barrier()  # on success only: a failed process leaves and torchrun stops the rest
    finally:
        shutdown_distributed(ctx)
    if not ctx.is_main:
        return 0
    errors, diverged = results["checkpoint_errors"], results["diverged"]
    if errors:
        print(f"fgsam node: error: --save-checkpoint {args.save_checkpoint!r}: cannot write "
              f"{errors[0]}; the results were written{' to ' + args.out if args.out else ''}",
              file=sys.stderr)
    if diverged:
        runs = ", ".join(f"{d['optimizer']} seed {d['seed']}" for d in diverged)
        print(f"fgsam node: diverged: {runs} (recorded); the other runs finished",
              file=sys.stderr)
    return 2 if errors else 3 if diverged else 0


__all__ = ["DEFAULT_FANOUT", "add_parser", "config_from_args", "parse_fanout", "run"]
