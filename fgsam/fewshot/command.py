"""``fgsam fsnc``: few-shot node classification with any method and optimizer(s)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fgsam._arguments import add_log_arguments, add_run_arguments
from fgsam._io import check_output_dir, check_output_file
from fgsam._validate import resolve_device
from fgsam._version import __version__
from fgsam.data.load_graph import load_graph
from fgsam.fewshot.checkpoint import CONFIG, WEIGHTS, save_checkpoint
from fgsam.fewshot.config import FSNCConfig, method_arguments
from fgsam.fewshot.features import (
    FEATURE_NORMALIZATIONS,
    feature_scale_warning,
    normalize_features,
)
from fgsam.fewshot.interleave import interleave, rotation
from fgsam.fewshot.method import FEATURE_LAYOUTS, PERTURB, feature_scale, optimizer_parameters
from fgsam.fewshot.method_registry import METHODS, create_method, method_name
from fgsam.fewshot.record import Record, resume
from fgsam.fewshot.results import (
    FSNCResult,
    RepeatResult,
    paired_differences,
)
from fgsam.fewshot.sweep import run_sweep
from fgsam.fewshot.trainer import EpisodicTrainer
from fgsam.nn.adjacency import ADJACENCIES
from fgsam.optim import create_optimizer
from fgsam.optim.options import default_rho_text, parse_options, parse_pairs
from fgsam.optim.registry import PROCEDURES, list_optimizers, optimizer_arguments
from fgsam.optim.swad import WEIGHT_AVERAGES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``fgsam fsnc``."""
    p = subparsers.add_parser(
        "fsnc", help="few-shot node classification (episodic meta-learning)",
        description="Meta-train and meta-test a few-shot node classifier with the FSNC "
                    "protocol; with a comma list of optimizers, compare them on identical "
                    "tasks and seeds, interleaved (repeat r of every optimizer before repeat "
                    "r + 1, in a rotating order) and timed by the wall clock and by process "
                    "CPU time (the median over blocks of 10 steps). Exit status: "
                    "0 done, 2 error, 3 some optimizer diverged (recorded in the table and "
                    "--out).")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``fgsam fsnc`` (``fgsam tune`` takes them too)."""
    p.add_argument("--dataset", default="cora", help="catalog name (see `fgsam datasets`)")
    p.add_argument("--method", default="gpn",
                   help=f"one of {', '.join(METHODS)}, or a comma list (a sweep, with --out)")
    p.add_argument("--settings", default=None, metavar="DATASET:N:K[:Q],...",
                   help="run a sweep: every setting (e.g. cora:2:3,wiki:5:3:8; Q defaults to "
                        "10) with every --method, one comparison per cell, kept in --out and "
                        "resumed from it; --dataset/--way/--shot/--query are then unused")
    p.add_argument("--markdown", default=None, metavar="FILE",
                   help="a sweep's tables, also written to FILE")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="a sweep's accuracy against CPU time per 200 episodes, a panel per "
                        "setting (needs matplotlib)")
    p.add_argument("--optimizer", default="adam",
                   help=f"optimizer name or comma list, e.g. adam,sam,fgsam,fgsam+: one of "
                        f"{', '.join(list_optimizers())}; the training procedure "
                        f"{', '.join(c.name for c in PROCEDURES)} (noise-averaged training, "
                        f"--opt-arg rho=DELTA num_samples=M; with MetaGNN its inner loop is "
                        f"clamped to DELTA; the other methods have no fine-tuning to clamp); "
                        f"or a torch.optim name (adam, sgd, ...)")
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
                   help=f"radius of sharpness-aware optimizers (rwp: noise scale, zo-tsam: "
                        f"finite-difference step, f2m: noise bound); default: each one's own, "
                        f"{default_rho_text()}")
    p.add_argument("--opt-arg", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                   help="further optimizer argument, e.g. k=2 for every optimizer listed or "
                        "fgsam+.k=2 for one (repeatable; wins over --rho; lr and weight_decay "
                        "win over --lr and --weight-decay)")
    p.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="further method argument, e.g. inner_steps=5 (repeatable)")
    p.add_argument("--test-last", action="store_true",
                   help="test the last model instead of the best validated one")
    p.add_argument("--average", choices=WEIGHT_AVERAGES, default=None,
                   help="test a weight average instead of the best validated model: swad "
                        "(dense averaging over a window chosen from the validation loss, the "
                        "mean query cross-entropy of the validation tasks)")
    p.add_argument("--average-option", action="append", default=[], metavar="KEY=VALUE",
                   help="SWAD argument: n_converge (3), n_tolerance (6), tolerance_ratio (1.3) "
                        "(repeatable)")
    p.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
    add_run_arguments(
        p, out_help="write every number and the configuration here (rewritten as each repeat "
                    "finishes, so an interrupted run keeps what it finished)",
        checkpoint_help="save the last repeat's tested model (config.json + model.pt); one "
                        "subfolder per optimizer when comparing several")
    p.add_argument("--adjacency", choices=ADJACENCIES, default="auto",
                   help="the GCNs' graph: one normalised CSR sparse matrix (faster on many "
                        "edges), PyG's edge list, or auto: CSR from 100k edges where the "
                        "method's layers allow it; equal within float rounding (default: auto)")
    p.add_argument("--feature-layout", choices=FEATURE_LAYOUTS, default="auto",
                   help="how the whole-graph GCN passes read the features: a sparse CSR "
                        "matrix (many times faster on wide bag-of-words features), dense, or "
                        "auto: sparse for features at most 5%% non-zero with 20M entries or "
                        "more; equal within float rounding (default: auto)")
    p.add_argument("--perturb", choices=PERTURB, default="all",
                   help="what sharpness-aware optimizers perturb: every parameter, or only the "
                        "method's encoder (the rest descends unperturbed, as the FGSAM authors' "
                        "FGSAM+ runs) (default: all)")
    p.add_argument("--no-peer-dropout", action="store_true",
                   help="run the PeerMLP passes of FGSAM-style optimizers without dropout, as "
                        "the FGSAM authors' code does")
    add_log_arguments(p, rows="validation", file="<optimizer>-repeat<r>")


def method_builder(config: FSNCConfig, num_features: int, num_classes: int
                   ) -> Callable[[], torch.nn.Module]:
    """The ``build_method`` of :class:`EpisodicTrainer` for ``config``'s method on a graph
    with ``num_features`` features and ``num_classes`` classes."""
    def build() -> torch.nn.Module:
        return create_method(config.method, num_features, num_classes, config.n_way,
                             config.hidden, config.dropout, **config.method_args)
    return build


def optimizer_kwargs(name: str, rho: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``name`` gets from ``--rho`` and ``--opt-arg``
    (:func:`fgsam.optim.optimizer_arguments`: ``rho`` given, or the optimizer's own
    default, if it has one; ``extra`` wins)."""
    return optimizer_arguments(name, extra, rho=rho)


def configs_from_args(args: argparse.Namespace) -> dict[str, FSNCConfig]:
    """The :class:`FSNCConfig` of each optimizer of parsed ``fgsam fsnc`` arguments, built
    and checked once (a bad flag is one ``ValueError`` line naming it)."""
    optimizers = [o.strip().lower() for o in args.optimizer.split(",") if o.strip()]
    if not optimizers:
        raise ValueError(f"--optimizer needs at least one name, got {args.optimizer!r}")
    if len(set(optimizers)) != len(optimizers):
        raise ValueError(f"--optimizer lists a name twice: {args.optimizer!r}")
    method = method_name(args.method)
    opt_args = parse_options(args.opt_arg, optimizers, "--opt-arg")
    method_args = parse_pairs(args.method_arg, "--method-arg")
    # the flags' own words; FSNCConfig words the same rules by its fields
    if args.average is None and args.average_option:
        raise ValueError("--average-option needs --average swad")
    if args.average is not None and args.test_last:
        raise ValueError("--test-last and --average choose different models to test; give "
                         "one of them")
    for name, flag in (("hidden", args.hidden), ("way", args.way), ("shot", args.shot)):
        if flag < 1:
            raise ValueError(f"--{name} must be >= 1, got {flag}")
    average_options = parse_pairs(args.average_option, "--average-option")
    # lr and weight_decay given per optimizer (fgsam+.lr=0.01, as fgsam tune does) win
    rates = {opt: (opt_args[opt].pop("lr", args.lr), opt_args[opt].pop("weight_decay",
                                                                        args.weight_decay))
             for opt in optimizers}
    return {opt: FSNCConfig(
        n_way=args.way, k_shot=args.shot, q_query=args.query, optimizer=opt, lr=rates[opt][0],
        weight_decay=rates[opt][1], opt_kwargs=opt_args[opt], episodes=args.episodes,
        val_every=args.val_every, val_tasks=args.val_tasks, patience=args.patience,
        test_tasks=args.test_tasks, repeats=args.repeats, seed=args.seed,
        test_last=args.test_last, average=args.average, average_options=average_options,
        dataset=args.dataset, root=args.root, split_seed=args.split_seed,
        features=args.features, method=method, method_args=method_args, hidden=args.hidden,
        dropout=args.dropout, rho=args.rho, adjacency=args.adjacency, perturb=args.perturb,
        peer_dropout=not args.no_peer_dropout, feature_layout=args.feature_layout,
        progress=not args.quiet, log_dir=args.log_dir) for opt in optimizers}


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam fsnc``; returns the exit status (errors reach :func:`fgsam.cli.main`,
    which prints them as one line)."""
    if args.settings is not None or "," in args.method:
        return run_sweep(args, run)
    configs = configs_from_args(args)
    optimizers, first = list(configs), next(iter(configs.values()))
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    device = resolve_device(args.device, "--device")
    check_output_file(args.out, "--out")
    check_output_dir(args.log_dir, "--log-dir")
    folders = checkpoint_folders(args.save_checkpoint, optimizers)
    for folder in folders.values():
        check_output_dir(folder, "--save-checkpoint", files=(CONFIG, WEIGHTS))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data, split = load_graph(first.dataset, first.root, split_seed=first.split_seed)
    data = normalize_features(data, first.features).to(device)
    num_classes = int(data.y.max()) + 1

    def builder(config: FSNCConfig) -> Any:
        return method_builder(config, data.num_features, num_classes)

    methods = [check_arguments(builder(config), [opt], {opt: config.opt_kwargs}, config.lr,
                               config.weight_decay, config.perturb)
               for opt, config in configs.items()]
    rescaled = all(getattr(m, "feature_scale", None) == "auto" for m in methods) and \
        feature_scale(data.x) != 0  # every method reads these features rescaled
    warning = None if rescaled else feature_scale_warning(data)
    if warning is not None:
        print(f"fgsam fsnc: warning: {warning}", file=sys.stderr)
    trainers = {opt: EpisodicTrainer.from_config(builder(config), data, split, config)
                for opt, config in configs.items()}
    dropped = trainers[optimizers[0]].dropped
    if any(dropped.values()):
        lost = {k: v for k, v in dropped.items() if v}
        print(f"dropped classes with fewer than {first.k_shot + first.q_query} nodes: {lost}",
              file=sys.stderr)
    results = {opt: FSNCResult([], {**t.config(), **configs[opt].to_dict()})
               for opt, t in trainers.items()}
    resume(args, results)
    record = Record(args, device, results)
    failed: list[str] = []
    for trainer in trainers.values():
        trainer.warm_up()

    def finished(opt: str, repeat: RepeatResult) -> None:
        results[opt].repeats.append(repeat)
        failed.extend(_finish_repeat(opt, repeat.repeat, args, results, trainers, folders))
        record.write(complete=False)

    # repeat r of every optimizer before repeat r + 1, and within a repeat the optimizers'
    # validation intervals in turn (rotating which goes first): a change of the machine's
    # load hits all of them alike
    for r in range(first.repeats):
        interleave({o: trainers[o].repeat_stages(r) for o in rotation(optimizers, r)
                    if results[o].diverged is None and len(results[o].repeats) <= r}, finished)
    record.write(complete=True)
    if len(optimizers) > 1:
        print()
        print(comparison_table(results))
    for message in failed:
        print(f"fgsam fsnc: error: {message}", file=sys.stderr)
    diverged = [o for o, res in results.items() if res.diverged is not None]
    if diverged:
        print(f"fgsam fsnc: diverged: {', '.join(diverged)} (see the table"
              f"{' and ' + args.out if args.out else ''})", file=sys.stderr)
    return 2 if failed else 3 if diverged else 0


def _finish_repeat(opt: str, r: int, args: argparse.Namespace, results: dict[str, FSNCResult],
                   trainers: dict[str, EpisodicTrainer], folders: dict[str, Path]) -> list[str]:
    """Print an optimizer's summary and save its checkpoint once it has finished (its last
    repeat, or a divergence); returns the checkpoint errors (the results are kept)."""
    done = r == args.repeats - 1 or results[opt].diverged is not None
    if not done:
        return []
    print(f"{opt}: {results[opt].summary()}" if len(results) > 1 else results[opt].summary())
    if opt not in folders or results[opt].diverged is not None:
        return []
    try:
        save_checkpoint(folders[opt], trainers[opt].last_method, _checkpoint_config(results[opt]))
    except OSError as err:  # the results themselves are still written
        return [f"--save-checkpoint {str(folders[opt])!r}: {err}"]
    return []


def checkpoint_folders(folder: str | None, optimizers: list[str]) -> dict[str, Path]:
    """Where ``--save-checkpoint`` puts each optimizer's model: the folder itself for one
    optimizer, a subfolder per optimizer for several."""
    if folder is None:
        return {}
    if len(optimizers) == 1:
        return {optimizers[0]: Path(folder)}
    return {opt: Path(folder) / _safe(opt) for opt in optimizers}


def check_arguments(build: Any, optimizers: list[str], kwargs: dict[str, dict[str, Any]],
                    lr: float, weight_decay: float, perturb: str = "all") -> Any:
    """Build the method and every optimizer once, so that a bad ``--method-arg`` or
    ``--opt-arg`` fails with a clear message before any training; returns the method."""
    with torch.random.fork_rng(devices=[]):  # the throw-away build must not move the RNG
        try:
            method = build()
        except TypeError as err:
            raise ValueError(f"--method-arg: {err}") from err
    for opt in optimizers:
        params, extra = optimizer_parameters(method, perturb, opt)
        try:
            create_optimizer(params, opt, lr=lr, weight_decay=weight_decay, **kwargs[opt], **extra)
        except TypeError as err:
            raise ValueError(f"optimizer {opt!r} does not take the arguments "
                             f"{sorted(kwargs[opt])} (from --rho / --opt-arg): {err}") from err
    return method


def comparison_table(results: dict[str, FSNCResult]) -> str:
    """A markdown table like Table 3 of the FGSAM paper: one row per optimizer, with the
    paired difference from the first optimizer on the same tasks
    (:func:`~fgsam.fewshot.results.paired_differences`: percentage points, 95% interval,
    Wilcoxon p), the training time per 200 episodes by the wall clock and by process CPU
    time, and the CPU time against the first optimizer's (the comparison a loaded
    machine does not distort). A diverged optimizer shows where it diverged instead of an
    accuracy."""
    base = next(iter(results))
    first = results[base].cpu_seconds_per_200
    paired = paired_differences(results)
    lines = [f"| optimizer | accuracy (%) ± 95% CI | Δ vs {base} (95% CI), p | s / 200 episodes "
             f"| CPU s / 200 episodes | CPU time vs {base} |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        delta = paired[name].cell() if paired.get(name) is not None else "–"
        d = r.diverged
        if d is None:
            acc = f"{100 * r.mean:.2f} ± {100 * r.ci95:.2f}"
        else:
            where = f", {d['pass']} pass" if d.get("pass") else ""
            acc = f"diverged (repeat {d['repeat'] + 1}, episode {d['episode']}{where})"
        if sum(rep.episodes for rep in r.repeats) == 0:  # diverged on its first episode
            wall = cpu = ratio = "–"
        else:
            wall, cpu = f"{r.seconds_per_200:.2f}", f"{r.cpu_seconds_per_200:.2f}"
            ratio = f"{r.cpu_seconds_per_200 / first:.2f}×" if first > 0 else "–"
        lines.append(f"| {name} | {acc} | {delta} | {wall} | {cpu} | {ratio} |")
    return "\n".join(lines)


def _checkpoint_config(result: FSNCResult) -> dict[str, Any]:
    last = result.repeats[-1]
    return {**result.config, "repeat": last.repeat, "seeds": last.seeds,
            "train_seed": last.seeds["train"], "episodes_trained": last.episodes,
            "test_accuracy": 100 * last.mean, "version": __version__}


def _safe(name: str) -> str:
    return name.replace("+", "plus").replace("/", "_")


__all__ = ["Record", "add_arguments", "add_parser", "check_arguments", "checkpoint_folders",
           "comparison_table", "configs_from_args", "method_arguments", "method_builder",
           "optimizer_kwargs", "run"]
