"""``fgsam mol``: train molecular property predictors with any optimizer of the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from fgsam.data.root import ENV_VAR
from fgsam.mol.build_model import MODELS
from fgsam.mol.build_optimizer import molecule_optimizers
from fgsam.mol.cache_dir import CACHE_ENV_VAR
from fgsam.mol.distributed import init_distributed, shutdown_distributed
from fgsam.mol.experiment import run_experiment
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_dataset import SPLITS, molecule_names
from fgsam.optim.options import default_rho_text, parse_options, parse_pairs
from fgsam.optim.registry import OPTIMIZERS
from fgsam.optim.swad import WEIGHT_AVERAGES

#: Registry names refused here: two closures, a PeerMLP view of a node-level GNN.
FGSAM_STYLE = [cls.name for cls in OPTIMIZERS if cls.num_closures == 2]
EXAMPLE = ("example: fgsam mol --dataset ogbg-molbbbp --model transformer "
           "--optimizer adam,sam,graphsam --epochs 50 --seeds 5 --out results.json; "
           "several processes: torchrun --nproc_per_node=N -m fgsam mol ...")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam mol``."""
    p = subparsers.add_parser(
        "mol", help="molecular property prediction (MoleculeNet/OGB) with GraphSAM and others",
        description="Train a molecular graph transformer (or GIN) on a MoleculeNet dataset "
                    "named as in OGB, with one or more optimizers on identical splits and "
                    "seeds; report the test metric at the best validation epoch, mean ± std "
                    "over seeds, and the training time per epoch.", epilog=EXAMPLE)
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
    p.add_argument("--epochs", type=_positive, default=50)
    p.add_argument("--seeds", type=_positive, default=5, help="number of seeds")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--batch-size", type=_positive, default=32,
                   help="global batch size (split over the processes)")
    p.add_argument("--eval-batch-size", type=_positive, default=256)
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
    p.add_argument("--hidden", type=_positive, default=None)
    p.add_argument("--layers", type=_positive, default=None)
    p.add_argument("--heads", type=_positive, default=None)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--full-attention", action="store_true",
                   help="transformer: all atom pairs of small molecules attend to each other")
    p.add_argument("--no-standardize", action="store_true",
                   help="regression: do not scale outputs to the training labels' mean/std")
    p.add_argument("--split", default="scaffold", choices=SPLITS)
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the random split (default: each run's seed)")
    p.add_argument("--max-molecules", type=_positive, default=None,
                   help="use only the first N molecules (quick trials)")
    p.add_argument("--root", default=None,
                   help=f"data root (default: ${ENV_VAR}, else ./datasets)")
    p.add_argument("--cache-dir", default=None,
                   help=f"processed-graph cache (default: ${CACHE_ENV_VAR}, else beside the "
                        f"CSV if writable, else ~/.cache/fgsam/molecules)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--out", default=None, help="write every number to this JSON file")
    p.add_argument("--save-checkpoint", default=None, metavar="DIR",
                   help="save the best-validation model and its settings (config.json, "
                        "model.pt) for fgsam sharpness")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> MolConfig:
    """The :class:`MolConfig` of parsed ``fgsam mol`` arguments."""
    optimizers = [n.strip().lower() for n in args.optimizer.split(",") if n.strip()]
    if not optimizers:
        raise ValueError(f"--optimizer needs at least one name, got {args.optimizer!r}")
    if len(set(optimizers)) != len(optimizers):
        raise ValueError(f"--optimizer lists a name twice: {args.optimizer!r}")
    return MolConfig(
        dataset=args.dataset, model=args.model, optimizers=optimizers,
        seeds=list(range(args.first_seed, args.first_seed + args.seeds)), epochs=args.epochs,
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


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam mol``; returns the exit status (2 for bad settings or missing data)."""
    try:
        config = config_from_args(args)
    except ValueError as err:
        print(f"fgsam mol: error: {err}", file=sys.stderr)
        return 2
    # The default device is chosen here, never inside the library.
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ctx, device = init_distributed(device)
    try:
        run_experiment(config, device, ctx, out=args.out, checkpoint_dir=args.save_checkpoint,
                       progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f"fgsam mol: error: {err}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed(ctx)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


__all__ = ["add_parser", "config_from_args", "run"]
