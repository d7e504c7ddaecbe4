"""``fgsam fsnc``: few-shot node classification with any method and optimizer(s)."""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path
from typing import Any

import torch

from fgsam import __version__
from fgsam.bench.timing import machine_description
from fgsam.data.load_graph import load_graph
from fgsam.fewshot.checkpoint import save_checkpoint
from fgsam.fewshot.features import FEATURE_NORMALIZATIONS, normalize_features
from fgsam.fewshot.method_registry import METHODS, create_method, default_episodes, method_name
from fgsam.fewshot.results import FSNCResult, write_json
from fgsam.fewshot.trainer import EpisodicTrainer
from fgsam.optim import create_optimizer, get_optimizer_class

#: ρ when ``--rho`` is omitted (FGSAM code: FGSAM+ 0.1; ASAM needs about 10× SAM's).
DEFAULT_RHO: dict[str, float] = {"fgsam+": 0.1, "asam": 0.5}
FALLBACK_RHO = 0.05


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``fgsam fsnc``."""
    p = subparsers.add_parser(
        "fsnc", help="few-shot node classification (episodic meta-learning)",
        description="Meta-train and meta-test a few-shot node classifier with the FSNC "
                    "protocol; with a comma list of optimizers, compare them on identical "
                    "tasks and seeds.")
    p.add_argument("--dataset", default="cora", help="catalog name (see `fgsam datasets`)")
    p.add_argument("--method", default="gpn", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--optimizer", default="adam",
                   help="optimizer name or comma list, e.g. adam,sam,fgsam,fgsam+")
    p.add_argument("--way", type=int, default=2, help="classes per task (N)")
    p.add_argument("--shot", type=int, default=3, help="support nodes per class (K)")
    p.add_argument("--query", type=int, default=10, help="query nodes per class (Q)")
    p.add_argument("--repeats", type=int, default=5, help="repeats with fresh seeds (R)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random stream")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the class split where none is published")
    p.add_argument("--episodes", type=int, default=None,
                   help="most training episodes (default: 1000, MetaGNN 500)")
    p.add_argument("--val-every", type=int, default=10, help="episodes between validations")
    p.add_argument("--patience", type=int, default=10,
                   help="validations without improvement before stopping")
    p.add_argument("--val-tasks", type=int, default=20, help="validation tasks")
    p.add_argument("--test-tasks", type=int, default=100, help="test tasks per repeat")
    p.add_argument("--lr", type=float, default=5e-3, help="learning rate")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="weight decay")
    p.add_argument("--features", choices=FEATURE_NORMALIZATIONS, default="l2",
                   help="node-feature scaling per row: l2 (unit norm, default), row (divide "
                        "by the sum) or none")
    p.add_argument("--hidden", type=int, default=16, help="embedding size")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout")
    p.add_argument("--rho", type=float, default=None,
                   help="radius of sharpness-aware optimizers (default: FGSAM+ 0.1, "
                        "ASAM 0.5, others 0.05)")
    p.add_argument("--opt-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="further optimizer argument, e.g. k=2 (repeatable)")
    p.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="further method argument, e.g. inner_steps=5 (repeatable)")
    p.add_argument("--test-last", action="store_true",
                   help="test the last model instead of the best validated one")
    p.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
    p.add_argument("--device", default=None,
                   help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--out", default=None, help="write every number and the configuration here")
    p.add_argument("--save-checkpoint", default=None, metavar="DIR",
                   help="save the last repeat's tested model (config.json + model.pt); one "
                        "subfolder per optimizer when comparing several")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_pairs(pairs: list[str], flag: str) -> dict[str, Any]:
    """``["k=2", "base=sgd"]`` → ``{"k": 2, "base": "sgd"}`` (Python literals, else strings)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def optimizer_kwargs(name: str, rho: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``name`` gets: ``rho`` (given, or its default) if it takes
    one, then ``extra``."""
    cls = get_optimizer_class(name)
    kwargs: dict[str, Any] = {}
    takes_rho = any("rho" in inspect.signature(k.__init__).parameters for k in cls.__mro__
                    if "__init__" in vars(k))
    if takes_rho and "rho" not in extra:
        kwargs["rho"] = rho if rho is not None else DEFAULT_RHO.get(name, FALLBACK_RHO)
    return kwargs | extra


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"fgsam fsnc: error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    method = method_name(args.method)
    optimizers = [o.strip().lower() for o in args.optimizer.split(",") if o.strip()]
    if not optimizers:
        raise ValueError(f"--optimizer needs at least one name, got {args.optimizer!r}")
    opt_args = parse_pairs(args.opt_arg, "--opt-arg")
    method_args = parse_pairs(args.method_arg, "--method-arg")
    kwargs = {o: optimizer_kwargs(o, args.rho, opt_args) for o in optimizers}
    for name, flag in (("hidden", args.hidden), ("way", args.way), ("shot", args.shot)):
        if flag < 1:
            raise ValueError(f"--{name} must be >= 1, got {flag}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data, split = load_graph(args.dataset, args.root, split_seed=args.split_seed)
    data = normalize_features(data, args.features).to(device)
    num_classes = int(data.y.max()) + 1
    episodes = args.episodes if args.episodes is not None else default_episodes(method)

    def build() -> torch.nn.Module:
        return create_method(method, data.num_features, num_classes, args.way, args.hidden,
                             args.dropout, **method_args)

    check_arguments(build, optimizers, kwargs, args.lr, args.weight_decay)
    results: dict[str, FSNCResult] = {}
    for opt in optimizers:
        trainer = EpisodicTrainer(
            build, data, split, n_way=args.way, k_shot=args.shot, q_query=args.query,
            optimizer=opt, lr=args.lr, weight_decay=args.weight_decay, opt_kwargs=kwargs[opt],
            episodes=episodes, val_every=args.val_every, val_tasks=args.val_tasks,
            patience=args.patience, test_tasks=args.test_tasks, repeats=args.repeats,
            seed=args.seed, test_last=args.test_last, progress=not args.quiet)
        if opt == optimizers[0] and any(trainer.dropped.values()):
            lost = {k: v for k, v in trainer.dropped.items() if v}
            print(f"dropped classes with fewer than {args.shot + args.query} nodes: {lost}",
                  file=sys.stderr)
        result = trainer.run()
        result.config.update(_settings(args, method, method_args, episodes))
        results[opt] = result
        print(f"{opt}: {result.summary()}" if len(optimizers) > 1 else result.summary())
        if args.save_checkpoint:
            folder = Path(args.save_checkpoint)
            folder = folder / _safe(opt) if len(optimizers) > 1 else folder
            save_checkpoint(folder, trainer.last_method, _checkpoint_config(trainer, result))
    if len(optimizers) > 1:
        print()
        print(comparison_table(results))
    if args.out:
        arguments = {k: v for k, v in vars(args).items() if k != "func"}
        write_json(args.out, {"arguments": arguments, "version": __version__,
                              "machine": machine_description(device),
                              "results": {k: r.as_dict() for k, r in results.items()}})
    return 0


def check_arguments(build: Any, optimizers: list[str], kwargs: dict[str, dict[str, Any]],
                    lr: float, weight_decay: float) -> None:
    """Build the method and every optimizer once, so that a bad ``--method-arg`` or
    ``--opt-arg`` fails with a clear message before any training."""
    with torch.random.fork_rng(devices=[]):  # the throw-away build must not move the RNG
        try:
            method = build()
        except TypeError as err:
            raise ValueError(f"--method-arg: {err}") from err
    for opt in optimizers:
        try:
            create_optimizer(method, opt, lr=lr, weight_decay=weight_decay, **kwargs[opt])
        except TypeError as err:
            raise ValueError(f"optimizer {opt!r} does not take the arguments "
                             f"{sorted(kwargs[opt])} (from --rho / --opt-arg): {err}") from err


def comparison_table(results: dict[str, FSNCResult]) -> str:
    """A markdown table like Table 3 of the FGSAM paper: one row per optimizer."""
    first = next(iter(results.values())).seconds_per_200
    lines = [f"| optimizer | accuracy (%) ± 95% CI | s / 200 episodes | time vs "
             f"{next(iter(results))} |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {100 * r.mean:.2f} ± {100 * r.ci95:.2f} | "
                     f"{r.seconds_per_200:.2f} | {r.seconds_per_200 / first:.2f}× |")
    return "\n".join(lines)


def _settings(args: argparse.Namespace, method: str, method_args: dict[str, Any],
              episodes: int) -> dict[str, Any]:
    return {"dataset": args.dataset, "root": args.root, "split_seed": args.split_seed,
            "features": args.features, "method": method, "method_args": method_args,
            "hidden": args.hidden,
            "dropout": args.dropout, "episodes": episodes, "rho_flag": args.rho}


def _checkpoint_config(trainer: EpisodicTrainer, result: FSNCResult) -> dict[str, Any]:
    last = result.repeats[-1]
    return {**result.config, "repeat": last.repeat, "seeds": last.seeds,
            "train_seed": last.seeds["train"], "episodes_trained": last.episodes,
            "test_accuracy": 100 * last.mean, "version": __version__}


def _safe(name: str) -> str:
    return name.replace("+", "plus").replace("/", "_")


__all__ = ["DEFAULT_RHO", "add_parser", "check_arguments", "comparison_table", "optimizer_kwargs",
           "parse_pairs", "run"]
