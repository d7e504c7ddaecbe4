"""GraphSAGE that transforms before it aggregates (fgsam's node ``sage``) against PyG's plain
GraphSAGE, which aggregates the raw features first.

Both are 2-layer, 64-hidden GraphSAGE models with the same initial weights (PyG's own class and
``fgsam.nn.LinearFirstGraphSAGE``); the step is one full-batch Adam step on the training nodes
of each graph's node-classification split (``fgsam.data.load_node_dataset``), features
row-normalised as ``fgsam node`` does. The propagation is the CSR adjacency, as ``fgsam node
--adjacency auto`` picks for these graphs with the plain model, or the edge list
(``--adjacency edge-index``). Outputs of the two are compared once at the initial weights.
Timed in one process in interleaved rounds (``fgsam.bench.interleaved_medians``), medians.

    python benchmarks/sage_order.py --root $FGSAM_DATA --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch
import torch.nn.functional as F
from torch_geometric.nn.models import GraphSAGE

from fgsam.bench import interleaved_medians, machine_description
from fgsam.data.node_dataset import load_node_dataset
from fgsam.nn import LinearFirstGraphSAGE
from fgsam.nn.adjacency import csr_adjacency

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--datasets", default="cora,citeseer,wiki,blogcatalog")
parser.add_argument("--adjacency", choices=["csr", "edge-index"], default="csr")
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--steps", type=int, default=2, help="steps per contender per round")
parser.add_argument("--threads", type=int, default=None)
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
warnings.filterwarnings("ignore", message="Sparse CSR tensor support")

print("command: python benchmarks/sage_order.py " + " ".join(sys.argv[1:]))
print(f"machine: {machine_description('cpu')}; clock: {args.clock}, {args.rounds} interleaved "
      f"rounds of {args.steps} steps, medians\n")
print("| graph | nodes | edges | features | PyG GraphSAGE ms / step | transform-first ms / step "
      "| ratio | max output difference |")
print("|---|---|---|---|---|---|---|---|")
for name in args.datasets.split(","):
    ds = load_node_dataset(name, args.root)
    data = ds.data
    x = data.x / data.x.sum(1, keepdim=True).clamp_min(1e-12) if bool((data.x >= 0).all()) \
        else data.x
    graph = csr_adjacency(data.edge_index, data.num_nodes) if args.adjacency == "csr" \
        else data.edge_index
    models, steps = {}, {}
    for label, cls in (("pyg", GraphSAGE), ("first", LinearFirstGraphSAGE)):
        torch.manual_seed(0)
        model = cls(x.size(1), args.hidden, 2, ds.num_classes, dropout=0.5)
        opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

        def step(model=model, opt=opt, x=x, graph=graph, idx=ds.train_idx, y=data.y) -> None:
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(x, graph)[idx], y[idx]).backward()
            opt.step()

        models[label], steps[label] = model, step
    with torch.no_grad():
        gap = float((models["pyg"].eval()(x, graph) - models["first"].eval()(x, graph)).abs().max())
    timing = interleaved_medians(steps, rounds=args.rounds, steps_per_round=args.steps,
                                 warmup=1, clock=args.clock)
    a, b = timing["pyg"].median, timing["first"].median
    print(f"| {name} | {data.num_nodes:,} | {data.edge_index.size(1) // 2:,} | {x.size(1):,} | "
          f"{1e3 * a:.1f} | {1e3 * b:.1f} | {b / a:.3f} | {gap:.1e} |", flush=True)
