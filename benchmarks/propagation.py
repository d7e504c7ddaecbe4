"""PyG edge-list propagation against a CSR sparse-matrix product of the same propagation.

A 2-layer PyG ``GCN`` (hidden 16, ``cached=True``) runs once on ``edge_index`` (PyG's
gather-and-scatter message passing) and once on the CSR adjacency that PyG's own
``ToSparseTensor(layout=torch.sparse_csr)`` makes (``data.adj_t``; GCNConv then takes
``torch.sparse.mm``), both from the same initial weights. Three measurements per graph:

* ``forward``: the model's forward in evaluation (no autograd);
* ``adam step``: a whole Adam training step (cross-entropy on the training rows of
  ``fgsam.bench.bench_graph``: 20 labelled nodes per class, OGB's fraction on the ogbn
  shapes);
* ``propagation [N, W]``: the propagation alone, forward and backward of ``[N, W]`` features
  (``--width``, default 32) through ``GCNConv.propagate`` with the cached normalised edge
  weights against ``torch.sparse.mm`` with the cached normalised CSR adjacency.

Every pair is timed in one process in interleaved rounds and compared by medians and by
the median of the per-round ratios (CSR over edge list: below 1 means CSR is faster); the
last column is the largest absolute difference of the two outputs (of the propagation's
input gradient too).

Graphs: catalog names (real data from ``--root``) and the synthetic shapes of
``fgsam.data.SHAPES`` (made undirected), a shape optionally scaled as ``NAME:FACTOR``
(nodes and edges times FACTOR, features and classes kept); ``ogbn-products`` without a
factor is scaled by ``--scale`` (default 1/10).

    python benchmarks/propagation.py --root $FGSAM_DATA
    python benchmarks/propagation.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
    python benchmarks/propagation.py --graphs cora,ogbn-arxiv:0.01 --rounds 3 --steps 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import warnings

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch_geometric.nn import GCN

from fgsam.bench import (
    add_timing_arguments,
    bench_graph,
    interleaved_medians,
    timing_device,
    timing_header,
)
from fgsam.data import SHAPES

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--graphs", default="cora,corafull,ogbn-arxiv,ogbn-products,blogcatalog",
                    help="catalog graphs and synthetic shapes, a shape as NAME:FACTOR to scale it")
parser.add_argument("--scale", type=float, default=0.1,
                    help="scale of ogbn-products when --graphs gives it no factor (default: 0.1)")
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--width", type=int, default=32, help="feature width of the propagation alone")
add_timing_arguments(parser, rounds=9, steps=5)
args = parser.parse_args()
device = timing_device(args)
warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")


def load(token: str):
    """``(label, data, train)`` of a catalog graph or a (scaled) synthetic shape."""
    name, _, factor = token.partition(":")
    if name not in SHAPES:
        if factor:
            sys.exit(f"{token}: only synthetic shapes ({', '.join(SHAPES)}) take a factor")
        return name, *bench_graph(name, None, args.root)
    scale = float(factor) if factor else (args.scale if name == "ogbn-products" else 1.0)
    if scale == 1.0:
        return name, *bench_graph(None, name, args.root)
    shape = SHAPES[name]
    edges = max(2, round(shape.num_edges * scale))
    shape = dataclasses.replace(shape, num_nodes=max(shape.num_classes, round(shape.num_nodes
                                                                               * scale)),
                                num_edges=edges - edges % 2 if shape.symmetric else edges)
    return f"{name} x{scale:g}", *bench_graph(None, shape, args.root)


def compare(edge_fn, csr_fn):
    """Interleaved timings of the two step functions: the table's cells."""
    t = interleaved_medians({"edge": edge_fn, "csr": csr_fn}, rounds=args.rounds,
                            steps_per_round=args.steps, device=device, clock=args.clock)
    edge_ms, csr_ms = t["edge"].median * 1e3, t["csr"].median * 1e3
    return (f"{edge_ms:.3f} | {csr_ms:.3f} | {csr_ms / edge_ms:.3f} | "
            f"{t['csr'].paired_ratio(t['edge']):.3f}")


def measure(label: str, data, train) -> list[str]:
    """The three rows of one graph."""
    rows = []
    data = data.to(device)
    train = train.to(device)
    csr = T.ToSparseTensor(layout=torch.sparse_csr)(data.clone())
    x, edge_index, adj_t, y = data.x, data.edge_index, csr.adj_t, data.y
    classes = int(y.max()) + 1
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        edge_model = GCN(data.num_features, args.hidden, 2, classes, cached=True).to(device)
    csr_model = copy.deepcopy(edge_model)
    graph = f"{label} | {data.num_nodes:,} | {data.num_edges:,}"

    # forward, in evaluation (the first calls fill the caches)
    edge_model.eval()
    csr_model.eval()
    with torch.no_grad():
        diff = (edge_model(x, edge_index) - csr_model(x, adj_t)).abs().max().item()
        cells = compare(lambda: edge_model(x, edge_index), lambda: csr_model(x, adj_t))
    rows.append(f"| {graph} | forward | {cells} | {diff:.1e} |")

    # a whole Adam training step, from the same weights
    def adam_step(model, adj, opt):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x, adj)[train], y[train])
        loss.backward()
        opt.step()
        return loss

    edge_model.train()
    csr_model.train()
    edge_opt = torch.optim.Adam(edge_model.parameters(), lr=0.01, weight_decay=5e-4)
    csr_opt = torch.optim.Adam(csr_model.parameters(), lr=0.01, weight_decay=5e-4)
    diff = (adam_step(edge_model, edge_index, edge_opt)
            - adam_step(csr_model, adj_t, csr_opt)).abs().item()
    cells = compare(lambda: adam_step(edge_model, edge_index, edge_opt),
                    lambda: adam_step(csr_model, adj_t, csr_opt))
    rows.append(f"| {graph} | adam step (loss) | {cells} | {diff:.1e} |")

    # the propagation alone, forward and backward, with the caches the models made
    conv = edge_model.convs[0]
    norm_index, norm_weight = conv._cached_edge_index
    norm_adj = csr_model.convs[0]._cached_edge_index[0]
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(data.num_nodes, args.width, generator=gen).to(device).requires_grad_()
    grad_out = torch.randn(data.num_nodes, args.width, generator=gen).to(device)

    def through(propagate):
        h.grad = None
        out = propagate()
        out.backward(grad_out)
        return out

    def edge_list():
        return through(lambda: conv.propagate(norm_index, x=h, edge_weight=norm_weight))

    def sparse_mm():
        return through(lambda: torch.sparse.mm(norm_adj, h))

    out, grad = edge_list().detach(), h.grad.clone()
    diff = max((out - sparse_mm().detach()).abs().max().item(),
               (grad - h.grad).abs().max().item())
    rows.append(f"| {graph} | propagation [N, {args.width}] fwd+bwd | "
                f"{compare(edge_list, sparse_mm)} | {diff:.1e} |")
    return rows


rows = []
for token in args.graphs.split(","):
    label, data, train = load(token)
    rows += measure(label, data, train)
    print(f"done: {label}", file=sys.stderr, flush=True)
    del data, train

print(timing_header(args, f"GCN hidden {args.hidden}; ratio: CSR over edge list") + "\n")
print("| graph | nodes | edges | measurement | edge list ms | CSR ms | ratio of medians | "
      "median of per-round ratios | max abs difference |")
print("|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
