"""``fgsam bench``: median step time and peak memory of optimizers on a 2-layer GCN."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from fgsam._arguments import DEVICE_HELP, positive_int
from fgsam._io import check_output_file, write_json
from fgsam._validate import resolve_device
from fgsam._version import __version__
from fgsam.bench.step_cost import TASKS, Contender, StepCost
from fgsam.fewshot.method import FEATURE_LAYOUTS
from fgsam.nn.adjacency import ADJACENCIES

#: The pseudo-optimizer ``peermlp``: an Adam step through the PeerMLP alone.
PEERMLP = "peermlp"
EXAMPLE = """example:
  fgsam bench --dataset cora --task episode --optimizers adam,sam,fgsam,fgsam+ --out bench.json
  fgsam bench --shape ogbn-arxiv --task full --optimizers adam,fgsam+,peermlp \\
      --opt-arg fgsam+.k=5 --threads 1 --clock cpu
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam bench``."""
    from fgsam.data import SHAPES

    p = subparsers.add_parser(
        "bench", help="median step time and peak memory of optimizers on a 2-layer GCN",
        description="Time training steps of a 2-layer GCN (hidden 16) under each optimizer,\n"
                    "runs interleaved in one process and compared by medians, and measure the\n"
                    "peak memory of the steps. Task 'episode': N-way K-shot Q-query episodes\n"
                    "with a prototypical loss, the PeerMLP on the episode's nodes; task\n"
                    "'full': full-graph node classification, the PeerMLP on the training\n"
                    "rows. 'peermlp' in --optimizers is an Adam step through the PeerMLP\n"
                    "alone. Prints a markdown table (ms/step, ratio to the first optimizer).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    graph = p.add_mutually_exclusive_group()
    graph.add_argument("--dataset", default=None,
                       help="a catalog graph, loaded with fgsam.data.load_graph (default: cora)")
    graph.add_argument("--shape", choices=sorted(SHAPES), default=None,
                       help="a synthetic graph of this shape (fgsam.data.synthetic_graph)")
    p.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
    p.add_argument("--task", choices=TASKS, default="episode", help="(default: episode)")
    p.add_argument("--optimizers", default="adam,sam,fgsam,fgsam+",
                   help="comma list of registry names and 'peermlp'; ratios are to the first "
                        "(default: adam,sam,fgsam,fgsam+)")
    p.add_argument("--opt-arg", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                   help="an optimizer argument, for every optimizer or NAME only "
                        "(repeatable; default rho: each optimizer's own)")
    p.add_argument("--way", type=positive_int, default=5, help="episode classes (default: 5)")
    p.add_argument("--shot", type=positive_int, default=3, help="support per class (default: 3)")
    p.add_argument("--query", type=positive_int, default=10,
                   help="queries per class (default: 10)")
    p.add_argument("--hidden", type=positive_int, default=16, help="GCN width (default: 16)")
    p.add_argument("--method", default=None,
                   help="time a few-shot method of fgsam fsnc (gpn, protonet, ...) instead "
                        "of the GCN, with fsnc's step (episode task; width --hidden)")
    p.add_argument("--adjacency", choices=ADJACENCIES, default="auto",
                   help="the GCNs' graph: a CSR sparse matrix, PyG's edge list, or auto: CSR "
                        "where the layers allow it, as fgsam fsnc (default: auto)")
    p.add_argument("--feature-layout", choices=FEATURE_LAYOUTS, default="auto",
                   help="with --method: how its GCNs read the features, as fgsam fsnc "
                        "--feature-layout (default: auto)")
    p.add_argument("--features", default=None,
                   help="node-feature scaling as in fgsam fsnc (l2, row, none) (default: "
                        "none; with --method: l2, fsnc's default)")
    p.add_argument("--rounds", type=positive_int, default=9,
                   help="interleaved rounds (default: 9)")
    p.add_argument("--steps", type=positive_int, default=10,
                   help="steps per optimizer per round, a multiple of FGSAM+'s k (default: 10)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps of each optimizer first (default: --steps)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: torch's)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall clock, or process CPU time (CPU device, with --threads 1, for a "
                        "shared CPU) (default: wall)")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0,
                   help="graph, initial weights and episodes (default: 0)")
    p.add_argument("--out", default=None, help="write every number and the configuration here")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam bench``; returns the exit status. The settings and ``--out`` are
    checked before any graph is loaded or step timed; errors reach
    :func:`fgsam.cli.main`, which prints them as one line."""
    from fgsam.bench.step_cost import bench_graph, make_steps, measure_step_cost
    from fgsam.bench.timing import machine_description
    from fgsam.fewshot.features import FEATURE_NORMALIZATIONS, normalize_features
    from fgsam.fewshot.method_registry import method_name

    _check_clock(args.clock, args.device)
    device = resolve_device(args.device, "--device")
    _check_clock(args.clock, device)  # the default device may be cuda
    if args.warmup is not None and args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    check_output_file(args.out, "--out")
    contenders = parse_contenders(args.optimizers, args.opt_arg)
    if args.method is not None:
        args.method = method_name(args.method)
        if args.task != "episode":
            raise ValueError(f"--method {args.method} trains on episodes: use --task episode, "
                             f"got --task {args.task}")
    if args.features is not None and args.features not in FEATURE_NORMALIZATIONS:
        raise ValueError(f"--features must be one of {', '.join(FEATURE_NORMALIZATIONS)}, got "
                         f"{args.features!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.dataset = dataset = None if args.shape else (args.dataset or "cora")
    name = args.shape or dataset
    print(f"fgsam bench: loading {name} ...", file=sys.stderr, flush=True)
    data, train = bench_graph(dataset, args.shape, args.root, seed=args.seed)
    features = args.features or ("l2" if args.method else "none")
    data = normalize_features(data, features).to(device)
    steps = make_steps(data, train, contenders, args.task, hidden=args.hidden, n_way=args.way,
                       k_shot=args.shot, q_query=args.query, seed=args.seed,
                       method=args.method, adjacency=args.adjacency,
                       feature_layout=args.feature_layout)
    print(f"fgsam bench: {len(steps)} optimizers, {args.rounds} rounds x {args.steps} steps "
          f"...", file=sys.stderr, flush=True)
    costs = measure_step_cost(steps, rounds=args.rounds, steps_per_round=args.steps,
                              warmup=args.warmup, clock=args.clock, device=device)
    rows = args.way * (args.shot + args.query) if args.task == "episode" else train.numel()
    machine = machine_description(device)
    print(f"graph: {name} ({data.num_nodes:,} nodes, {data.num_edges:,} edges, "
          f"{data.num_features:,} features); task: {args.task} ({rows} loss rows)")
    print(f"machine: {machine}")
    print(f"{args.rounds} rounds x {args.steps} steps per optimizer, interleaved; medians of "
          f"{'process CPU' if args.clock == 'cpu' else 'wall-clock'} time per step\n")
    print(table(costs))
    summary = summary_line(name, args.task, costs)
    if args.out:
        arguments = {k: v for k, v in vars(args).items() if k != "func"}
        write_json(args.out, {
            "summary": summary, "configuration": arguments,
            "graph": {"name": name, "source": "synthetic" if args.shape else "catalog",
                      "num_nodes": data.num_nodes, "num_edges": data.num_edges,
                      "num_features": data.num_features, "loss_rows": rows},
            "optimizers": [{"label": c.label, "name": c.optimizer, "options": c.options,
                            "peer_only": c.peer_only} for c in contenders],
            "results": [cost.to_dict() for cost in costs.values()],
            "clock": args.clock, "machine": machine, "version": __version__,
        })
    print(f"\n{summary}")
    return 0


def _check_clock(clock: str, device: str | torch.device | None) -> None:
    """``--clock cpu`` cannot see the work of an accelerator: refuse that pairing (by the
    device's name, so the reason is given even where the device is absent)."""
    if clock != "cpu" or device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        return  # not a device name: resolve_device says so
    if kind != "cpu":
        raise ValueError(f"--clock cpu measures the CPU time of this process and cannot see "
                         f"work on {device}: use --clock wall or --device cpu")


def parse_contenders(optimizers: str, opt_args: list[str]) -> list[Contender]:
    """``"adam,fgsam+,peermlp"`` and ``["fgsam+.k=5"]`` → the contenders, each optimizer
    with its own default rho unless an option sets one."""
    from fgsam.optim.options import parse_options
    from fgsam.optim.registry import optimizer_arguments

    names = [n.strip().lower() for n in optimizers.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--optimizers needs at least one name, got {optimizers!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"--optimizers lists a name twice: {optimizers!r}")
    options = parse_options(opt_args, names, "--opt-arg")
    contenders = []
    for name in names:
        if name == PEERMLP:
            contenders.append(Contender(PEERMLP, "adam", options[name], peer_only=True))
            continue
        try:
            kwargs = optimizer_arguments(name, options[name])
        except ValueError as err:
            raise ValueError(f"--optimizers: {err}; and {PEERMLP} (an Adam step through the "
                             f"PeerMLP alone)") from err
        contenders.append(Contender(name, name, kwargs))
    return contenders


def table(costs: dict[str, StepCost]) -> str:
    """The markdown table: ms per step, ratio to the first optimizer, peak memory."""
    first = next(iter(costs))
    lines = [f"| optimizer | ms / step | ratio to {first} | peak memory (MiB) |",
             "|---|---|---|---|"]
    lines += [f"| {c.label} | {c.ms:.2f} | {c.ratio:.3f} | {c.peak_mib:.1f} |"
              for c in costs.values()]
    return "\n".join(lines)


def summary_line(name: str, task: str, costs: dict[str, StepCost]) -> str:
    """``"cora episode: sam 1.95x adam, fgsam 0.98x adam (median step time)"``."""
    first, *rest = costs.values()
    ratios = ", ".join(f"{c.label} {c.ratio:.2f}x {first.label}" for c in rest)
    return (f"{name} {task}: {first.label} {first.ms:.2f} ms/step"
            f"{'; ' + ratios if ratios else ''} (median step time)")



__all__ = ["PEERMLP", "add_parser", "parse_contenders", "run", "summary_line", "table"]
