"""Step cost of FGSAM and FGSAM+ against Adam and SAM, for a 2-layer GCN encoder.

Median time per training step (runs interleaved, in one process), ratios to Adam, and the
peak memory of the steps, on Cora (real) and on synthetic graphs of the exact shape of
CoraFull and ogbn-arxiv (made undirected), for two tasks:

* ``episode``: 5-way 3-shot 10-query episodes (65 labelled nodes): the GNN runs on the full
  graph and a prototypical loss uses the episode's nodes; the PeerMLP runs on those 65
  rows only;
* ``full``: full-graph node classification (Cora's standard split; 20 nodes per class on
  CoraFull; OGB's 54% training fraction on arxiv); the PeerMLP runs on the training rows.

``peermlp`` is a plain Adam step through the PeerMLP alone: ``peermlp / adam`` is the
"PeerMLP step / GNN step" ratio of the cost model (docs/algorithms.md §2). The measurement is
``fgsam.bench.step_cost``, the same as ``fgsam bench``; this script loops over graphs and
tasks and adds the k = 5 and PeerMLP rows and the targets.

    python benchmarks/step_cost.py [--quick] [--root DATA_ROOT] [--device cuda]

On a CPU shared with other work, ``--threads 1 --clock cpu`` times each block by the CPU
time of this process instead of the wall clock, so time spent descheduled does not count.
"""

from __future__ import annotations

import argparse
import sys

from fgsam.bench import add_timing_arguments, timing_device, timing_header
from fgsam.bench.step_cost import Contender, bench_graph, make_steps, measure_step_cost
from fgsam.data import SHAPES

CONTENDERS = [
    Contender("adam", "adam"),
    Contender("sam", "sam", {"rho": 0.05}),
    Contender("fgsam", "fgsam", {"rho": 0.05}),
    Contender("fgsam+ k=2", "fgsam+", {"rho": 0.1, "k": 2}),
    Contender("fgsam+ k=5", "fgsam+", {"rho": 0.1, "k": 5}),
    Contender("peermlp", "adam", peer_only=True),
]
ALIASES = {"arxiv": "ogbn-arxiv", "products": "ogbn-products"}  # graph name -> synthetic shape

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--graphs", default="cora,corafull,arxiv",
                    help="catalog graphs, synthetic shapes, arxiv or products")
parser.add_argument("--tasks", default="episode,full")
add_timing_arguments(parser, rounds=9, steps=10, steps_help="steps per round (a multiple of k)")
parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
args = parser.parse_args()
device = timing_device(args)
rounds = 3 if args.quick else args.rounds

rows, checks = [], []
for graph in args.graphs.split(","):
    shape = ALIASES.get(graph, graph if graph in SHAPES else None)
    data, train = bench_graph(None if shape else graph, shape, args.root)
    data = data.to(device)
    for task in args.tasks.split(","):
        steps = make_steps(data, train, CONTENDERS, task)
        costs = measure_step_cost(steps, rounds=rounds, steps_per_round=args.steps,
                                  clock=args.clock, device=device)
        ms = {label: cost.ms for label, cost in costs.items()}
        loss_rows = 65 if task == "episode" else train.numel()
        for label, cost in costs.items():
            rows.append(f"| {graph} | {task} ({loss_rows} rows) | {label} | {cost.ms:.2f} | "
                        f"{cost.ratio:.3f} | {cost.peak_mib:.1f} |")
        ratios = {
            "FGSAM/SAM": (ms["fgsam"] / ms["sam"], 0.55),
            "FGSAM+ k=2 / Adam": (ms["fgsam+ k=2"] / ms["adam"], 0.6),
            "FGSAM+ k=5 / Adam": (ms["fgsam+ k=5"] / ms["adam"], 0.35),
            "PeerMLP step / GNN step": (ms["peermlp"] / ms["adam"], 0.1),
        }
        for what, (value, target) in ratios.items():
            targeted = graph in ("corafull", "arxiv") and task == "episode"
            verdict = ("meets" if value <= target else "MISSES") if targeted else "(no target)"
            checks.append(f"| {graph} | {task} | {what} | {value:.3f} | <= {target} {verdict} |")
        print(f"done: {graph} {task}", file=sys.stderr, flush=True)
    del data

print(timing_header(args, rounds=rounds) + "\n")
print("| graph | task | optimizer | ms / step | ratio to adam | peak memory (MiB) |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
print("\n| graph | task | ratio | measured | target |")
print("|---|---|---|---|---|")
print("\n".join(checks))
