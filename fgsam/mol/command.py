"""``fgsam mol``: train molecular property predictors with any optimizer of the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from fgsam._arguments import add_log_arguments, add_run_arguments, check_positive_flags
from fgsam._io import check_output_dir, check_output_file
from fgsam._validate import resolve_device
from fgsam.data.molecule_cache import CACHE_ENV_VAR, check_cache_dir
from fgsam.data.molecule_dataset import SPLITS, molecule_names
from fgsam.data.root import ENV_VAR
from fgsam.mol.config import MolConfig, molecule_optimizers
from fgsam.mol.distributed import init_distributed, shutdown_distributed
from fgsam.mol.experiment import check_optimizers, checkpoint_folders, run_experiment
from fgsam.mol.model import CONFIG, MODELS, WEIGHTS
from fgsam.optim.options import default_rho_text, parse_options, parse_pairs
from fgsam.optim.registry import OPTIMIZERS
from fgsam.optim.swad import WEIGHT_AVERAGES

#: Registry names refused here: two closures, a PeerMLP view of a node-level GNN.
FGSAM_STYLE = [cls.name for cls in OPTIMIZERS if cls.num_closures == 2]
EXAMPLE = ("example: fgsam mol --dataset ogbg-molbbbp --model transformer "
           "--optimizer adam,sam,graphsam --epochs 50 --repeats 5 --out results.json; "
           "several processes: torchrun --nproc_per_node=N -m fgsam mol ...")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam mol``."""
    p = subparsers.add_parser(
        "mol", help="molecular property prediction (MoleculeNet/OGB) with GraphSAM and others",
        description="Train a molecular graph transformer (or GIN) on a MoleculeNet dataset "
                    "named as in OGB, with one or more optimizers on identical splits and "
                    "seeds (seed s of every optimizer before seed s + 1); report the test "
                    "metric at the best validation epoch, mean ± std over seeds, and the "
                    "training time per epoch by the wall clock and by process CPU time. Exit "
                    "status: 0 done, 2 error, 3 some run diverged (recorded in the output).",
        epilog=EXAMPLE)
    p.add_argument("--dataset", default="ogbg-molbbbp", choices=molecule_names(),
                   metavar="NAME", help=f"one of {', '.join(molecule_names())}")
    p.add_argument("--model", default="transformer", choices=list(MODELS))
    p.add_argument("--optimizer", default="graphsam",
                   help=f"comma-separated optimizer names, e.g. adam,sam,graphsam: "
                        f"{', '.join(molecule_optimizers())} (f2m: the training procedure, "
                        f"noise-averaged training, --opt-arg rho=DELTA num_samples=M; molecule "
                        f"runs have no fine-tuning sessions to clamp) or a torch.optim name; "
                        f"FGSAM-style ones ({', '.join(FGSAM_STYLE)}) need node-level GNNs: "
                        f"see fgsam fsnc")
    p.add_argument("--epochs", type=int, default=50)
    # --seeds and --first-seed: the earlier names, kept working
    p.add_argument("--repeats", "--seeds", dest="repeats", type=int, default=5,
                   help="runs per optimizer, seeds --seed, --seed + 1, ...")
    p.add_argument("--seed", "--first-seed", dest="seed", type=int, default=0,
                   help="seed of the first run")
    p.add_argument("--batch-size", type=int, default=32,
                   help="global batch size (split over the processes)")
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--rho", type=float, default=None,
                   help=f"radius of sharpness-aware optimizers (rwp: noise scale, zo-tsam: "
                        f"finite-difference step, f2m: noise bound); default: each one's own, "
                        f"{default_rho_text(molecule_optimizers())}")
    p.add_argument("--base", default="adam", help="base optimizer of sharpness-aware ones")
    p.add_argument("--sync-ascent", action="store_true",
                   help="under several processes, all-reduce the ascent gradient too")
    p.add_argument("--opt-arg", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                   help="a further optimizer hyper-parameter, e.g. beta=0.9 for every "
                        "optimizer listed or graphsam.beta=0.9 for one (repeatable; wins over "
                        "--rho)")
    p.add_argument("--average", choices=WEIGHT_AVERAGES, default=None,
                   help="report a weight average instead of the best validation epoch: swad "
                        "(dense averaging over a window chosen from the validation loss)")
    p.add_argument("--average-option", action="append", default=[], metavar="KEY=VALUE",
                   help="SWAD argument: n_converge (3), n_tolerance (6), tolerance_ratio (1.3) "
                        "(repeatable)")
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--heads", type=int, default=None)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--full-attention", action="store_true",
                   help="transformer: all atom pairs of small molecules attend to each other")
    p.add_argument("--no-standardize", action="store_true",
                   help="regression: do not scale outputs to the training labels' mean/std")
    p.add_argument("--split", default="scaffold", choices=SPLITS)
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the random split (default: each run's seed)")
    p.add_argument("--max-molecules", type=int, default=None,
                   help="use only the first N molecules (quick trials; each split part needs "
                        "some: train 2, valid 1, test 1)")
    p.add_argument("--root", default=None,
                   help=f"data root (default: ${ENV_VAR}, else ./datasets)")
    p.add_argument("--cache-dir", default=None,
                   help=f"processed-graph cache (default: ${CACHE_ENV_VAR}, else beside the "
                        f"CSV if writable, else ~/.cache/fgsam/molecules)")
    add_run_arguments(
        p, out_help="write every number to this JSON file (rewritten after every run, so an "
                    "interrupted experiment keeps what it finished)",
        checkpoint_help="save the best-validation model and its settings (config.json, "
                        "model.pt) for fgsam sharpness; DIR/<optimizer>/seed<k> when there are "
                        "several runs")
    add_log_arguments(p, rows="epoch", file="<optimizer>-seed<k>")
    p.set_defaults(func=run)
    return p


#: Integer flags that must be at least 1 (``None`` allowed where the default is ``None``).
POSITIVE = ("epochs", "repeats", "batch_size", "eval_batch_size", "hidden", "layers", "heads",
            "max_molecules", "threads")


def check_args(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers, naming the flag, the value and what is valid."""
    check_positive_flags(args, POSITIVE)
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    for name in ("lr", "weight_decay"):
        value = getattr(args, name)
        if not value >= 0.0:  # NaN too
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {value}")


def config_from_args(args: argparse.Namespace) -> MolConfig:
    """The :class:`MolConfig` of parsed ``fgsam mol`` arguments."""
    check_args(args)
    optimizers = [n.strip().lower() for n in args.optimizer.split(",") if n.strip()]
    if not optimizers:
        raise ValueError(f"--optimizer needs at least one name, got {args.optimizer!r}")
    if len(set(optimizers)) != len(optimizers):
        raise ValueError(f"--optimizer lists a name twice: {args.optimizer!r}")
    return MolConfig(
        dataset=args.dataset, model=args.model, optimizers=optimizers,
        seeds=list(range(args.seed, args.seed + args.repeats)), epochs=args.epochs,
        batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, lr=args.lr,
        weight_decay=args.weight_decay, rho=args.rho, base=args.base,
        sync_ascent=args.sync_ascent,
        options=parse_options(args.opt_arg, optimizers, base=args.base),
        hidden=args.hidden, layers=args.layers, heads=args.heads, dropout=args.dropout,
        full_attention=args.full_attention, standardize=not args.no_standardize,
        split=args.split, split_seed=args.split_seed,
        max_molecules=args.max_molecules, root=args.root, cache_dir=args.cache_dir,
        average=args.average,
        average_options=parse_pairs(args.average_option, "--average-option"),
    )


def check_outputs(args: argparse.Namespace, config: MolConfig) -> None:
    """Refuse, before any data is loaded, an output that could not be written: ``--out``
    (a writable file), ``--save-checkpoint`` (a folder, and each run's ``config.json`` and
    ``model.pt`` in it) and ``--cache-dir`` (a writable folder, unless it already holds
    this dataset's cache)."""
    check_output_file(args.out, "--out")
    check_output_dir(args.log_dir, "--log-dir")
    for folder in checkpoint_folders(args.save_checkpoint, config.optimizers,
                                     config.seeds).values():
        check_output_dir(folder, "--save-checkpoint", files=(CONFIG, WEIGHTS))
    check_cache_dir(args.cache_dir, config.dataset, "--cache-dir")


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam mol``; returns the exit status: 0 done, 3 some run diverged (recorded
    in ``--out`` and the table), 2 a checkpoint could not be written (the results are).
    Errors reach :func:`fgsam.cli.main`, which prints them as one line."""
    config = config_from_args(args)
    check_optimizers(config)
    device = resolve_device(args.device, "--device")  # the one place a default is chosen
    check_outputs(args, config)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ctx, device = init_distributed(device)
    try:
        results = run_experiment(config, device, ctx, out=args.out,
                                 checkpoint_dir=args.save_checkpoint,
                                 progress=not args.quiet, log_dir=args.log_dir)
    finally:
        shutdown_distributed(ctx)
    if not ctx.is_main:
        return 0
    errors, diverged = results["checkpoint_errors"], results["diverged"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        print(f"fgsam mol: error: --save-checkpoint {args.save_checkpoint!r}: cannot write "
              f"{errors[0]}{more}; the results were written"
              f"{' to ' + args.out if args.out else ''}", file=sys.stderr)
    if diverged:
        runs = ", ".join(f"{d['optimizer']} seed {d['seed']}" for d in diverged)
        print(f"fgsam mol: diverged: {runs} (recorded in the table"
              f"{' and ' + args.out if args.out else ''}); the other runs finished",
              file=sys.stderr)
    return 2 if errors else 3 if diverged else 0


__all__ = ["add_parser", "check_args", "check_outputs", "config_from_args", "run"]
