"""The small-graph sweep: step cost of SAM, FGSAM and FGSAM+ against Adam on small graphs.

The episode task of ``fgsam.bench.make_steps`` (a 2-layer GCN encoder, hidden 16, on the
full graph; prototypical loss on 5-way 3-shot 10-query episodes; the PeerMLP on the
episode's 65 nodes), timed with ``fgsam.bench.measure_step_cost`` (interleaved rounds, in
one process), on synthetic graphs of 1k, 3k and 10k nodes (``--sizes``; average degree 5,
500 dense features, 10 classes: ``--degree``, ``--features``, ``--classes``; a contextual
SBM of ``fgsam.data.synthetic_graph``, undirected) and on real Cora, CiteSeer and Wiki
(``--datasets``).

Per graph: each optimizer's median ms per step, its ratio to Adam (ratio of medians and
median of per-round ratios), and for FGSAM+ its ratio to its ideal cost in Adam steps,
``(1 + (k + 1) m / G) / k`` (``(1 + 3 m / G) / 2`` for k = 2), with ``m`` the PeerMLP step
(the ``peermlp`` row: an Adam step through the PeerMLP alone) and ``G`` the Adam GNN step,
both measured in the same interleaving: 1.0 means FGSAM+ costs no more than its passes.

    python benchmarks/small_graphs.py --root $FGSAM_DATA
    python benchmarks/small_graphs.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
    python benchmarks/small_graphs.py --adjacency csr  # make_steps(..., adjacency="csr")
    python benchmarks/small_graphs.py --base-arg fused=true  # every base Adam fused
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys

from fgsam.bench import (
    Contender,
    add_timing_arguments,
    bench_graph,
    make_steps,
    measure_step_cost,
    timing_device,
    timing_header,
)
from fgsam.data import GraphShape
from fgsam.nn.adjacency import ADJACENCIES
from fgsam.optim.options import parse_pairs

RHO = {"sam": 0.05, "fgsam": 0.05, "fgsam+": 0.1}
CONTENDERS = [Contender("adam", "adam"), Contender("sam", "sam", {"rho": RHO["sam"]}),
              Contender("fgsam", "fgsam", {"rho": RHO["fgsam"]}),
              *(Contender(f"fgsam+ k={k}", "fgsam+", {"rho": RHO["fgsam+"], "k": k})
                for k in (2, 5)),
              Contender("peermlp", "adam", peer_only=True)]

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--sizes", default="1000,3000,10000",
                    help="node counts of the synthetic graphs ('' for none)")
parser.add_argument("--degree", type=int, default=5, help="average degree of the synthetic graphs")
parser.add_argument("--features", type=int, default=500)
parser.add_argument("--classes", type=int, default=10)
parser.add_argument("--datasets", default="cora,citeseer,wiki", help="catalog graphs ('' for none)")
parser.add_argument("--adjacency", choices=ADJACENCIES, default="auto",
                    help="make_steps(..., adjacency=...) (default: auto)")
parser.add_argument("--base-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="an argument of every contender's (base) Adam, e.g. fused=true")
add_timing_arguments(parser, rounds=9, steps=10,
                     steps_help="steps per round (a multiple of 2 and 5)")
args = parser.parse_args()
device = timing_device(args)
base_args = parse_pairs(args.base_arg, "--base-arg")
contenders = [dataclasses.replace(c, options={**c.options, **base_args}) for c in CONTENDERS]

graphs = [(f"synthetic {int(n):,}", None, GraphShape(int(n), args.degree * int(n) // 2 * 2,
                                                     args.features, args.classes))
          for n in filter(None, args.sizes.split(","))]
graphs += [(name, name, None) for name in filter(None, args.datasets.split(","))]

rows, ideal_rows = [], []
for label, dataset, shape in graphs:
    data, train = bench_graph(dataset, shape, args.root)
    data = data.to(device)
    steps = make_steps(data, train, contenders, "episode", adjacency=args.adjacency)
    costs = measure_step_cost(steps, rounds=args.rounds, steps_per_round=args.steps,
                              clock=args.clock, device=device, memory=False)
    adam = costs["adam"]
    graph = f"{label} | {data.num_nodes:,} | {data.num_edges:,}"
    for name, cost in costs.items():
        paired = statistics.median(a / b for a, b in zip(cost.per_step_ms, adam.per_step_ms))
        rows.append(f"| {graph} | {name} | {cost.ms:.3f} | {cost.ratio:.3f} | {paired:.3f} |")
    m_over_g = costs["peermlp"].ms / adam.ms
    for k in (2, 5):
        ideal = (1 + (k + 1) * m_over_g) / k
        ratio = costs[f"fgsam+ k={k}"].ratio
        ideal_rows.append(f"| {label} | {m_over_g:.3f} | {k} | {ratio:.3f} | {ideal:.3f} | "
                          f"{ratio / ideal:.3f} |")
    print(f"done: {label}", file=sys.stderr, flush=True)
    del data, steps

print(timing_header(args, "episode task (5-way 3-shot 10-query), GCN hidden 16; synthetic "
                          f"graphs: average degree {args.degree}, {args.features} dense "
                          f"features, {args.classes} classes; adjacency: {args.adjacency}"
                          + "".join(f"; {a}" for a in args.base_arg)) + "\n")
print("| graph | nodes | edges | optimizer | ms / step | ratio to adam | "
      "median of per-round ratios |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows))
print("\nFGSAM+ against its ideal cost (1 + (k + 1) m / G) / k Adam steps "
      "(m: peermlp step, G: adam step):\n")
print("| graph | m / G | k | fgsam+ / adam | ideal | measured / ideal |")
print("|---|---|---|---|---|---|")
print("\n".join(ideal_rows))
