"""MetaGNN's few-shot step (second-order MAML over a GCN) by adjacency and feature layout.

Rows: fgsam's MetaGNN step exactly as ``fgsam bench --method metagnn`` times it
(``fgsam.bench.make_steps(..., method="metagnn")``: ``fgsam fsnc``'s episode step, 10 inner
SGD steps differentiated through, hidden 16, dropout 0.2, L2-normalised features), with
Adam, for every pair of ``--adjacency`` (``edge-index``, ``csr``) and ``--feature-layout``
(``dense``, ``sparse``). The ``torch derivative`` row is the ``csr`` + ``sparse`` step with
every CSR product differentiated by torch's own derivative (``a @ b``) instead of
``fgsam.nn.csr_matmul``: torch transposes and re-sorts the matrix at every backward pass,
which a second-order step takes several times per inner step. One FGSAM+ row (k = 2,
``csr`` + ``sparse``) gives its cost in the fastest layout.

All rows are timed in one process in interleaved rounds (``measure_step_cost``); ratios are
to the first row (the layout ``auto`` picks on these graphs: edge list, dense features).

    python benchmarks/metagnn_layouts.py --root $FGSAM_DATA --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Callable, Iterator

import fgsam.fewshot.encoder as encoder_module
import fgsam.nn.sparse_linear as sparse_module
from fgsam.bench import (
    Contender,
    add_timing_arguments,
    bench_graph,
    make_steps,
    measure_step_cost,
    timing_device,
    timing_header,
)
from fgsam.fewshot.features import normalize_features

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--datasets", default="citeseer,wiki", help="catalog graphs")
parser.add_argument("--way", type=int, default=2)
parser.add_argument("--shot", type=int, default=3)
parser.add_argument("--query", type=int, default=10)
add_timing_arguments(parser, rounds=5, steps=4, steps_help="steps per round (a multiple of 2)")
args = parser.parse_args()
device = timing_device(args)
warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
TORCH = "csr sparse-x, torch derivative"


@contextlib.contextmanager
def torch_derivative() -> Iterator[None]:
    """Every CSR product of fgsam's layers as ``a @ b``, differentiated by torch."""
    kept = encoder_module.csr_matmul, sparse_module.csr_matmul
    encoder_module.csr_matmul = sparse_module.csr_matmul = lambda a, b: a @ b
    try:
        yield
    finally:
        encoder_module.csr_matmul, sparse_module.csr_matmul = kept


def under(context: Callable[[], contextlib.AbstractContextManager], step: Callable) -> Callable:
    def run():
        with context():
            return step()
    return run


print(timing_header(args, f"{args.way}-way {args.shot}-shot {args.query}-query episodes"))
for name in args.datasets.split(","):
    data, train = bench_graph(dataset=name, root=args.root)
    data = normalize_features(data, "l2").to(device)
    contenders = [Contender(f"{adj} {fl}-x", "adam", adjacency=adj, feature_layout=fl)
                  for adj in ("edge-index", "csr") for fl in ("dense", "sparse")]
    contenders += [Contender(TORCH, "adam", adjacency="csr", feature_layout="sparse"),
                   Contender("fgsam+ k=2 csr sparse-x", "fgsam+", {"rho": 0.1, "k": 2},
                             adjacency="csr", feature_layout="sparse")]
    steps = make_steps(data, train, contenders, "episode", method="metagnn", n_way=args.way,
                       k_shot=args.shot, q_query=args.query)
    steps[TORCH] = under(torch_derivative, steps[TORCH])
    costs = measure_step_cost(steps, rounds=args.rounds, steps_per_round=args.steps,
                              clock=args.clock, device=device, memory=False)
    nnz = int((data.x != 0).sum())
    print(f"\n{name}: {data.num_nodes:,} nodes, {data.num_edges:,} edges, "
          f"{data.num_features:,} features ({100 * nnz / data.x.numel():.2f}% non-zero)\n")
    print("| layout | optimizer | ms / step | ratio |")
    print("|---|---|---|---|")
    for c in contenders:
        cost = costs[c.label]
        print(f"| {c.label} | {c.optimizer} | {cost.ms:.1f} | {cost.ratio:.3f} |")
