"""fgsam's GPN few-shot step against a plain GPN that propagates by a CSR sparse product.

``fgsam`` rows: fgsam's GPN step exactly as ``fgsam bench --method gpn`` times it
(``fgsam.bench.make_steps(..., method="gpn")``: ``fgsam fsnc``'s episode step, hidden 16,
dropout 0.2, L2-normalised features, 5-way 3-shot 10-query episodes). ``plain`` rows: GPN
written here with the same shapes (encoder GCN ``F -> 32 -> 16``; valuator GCN ``F -> 32 ->
16`` with ReLU after both layers, then a linear score; degree-scaled scores normalised
over each class's support; prototypical scoring by negative squared distances), every
propagation one ``torch.sparse.mm`` with the GCN-normalised CSR adjacency (self-loops,
symmetric weights), built once; it starts from fgsam's initial GPN weights (embeddings,
valuator scores and losses of the two at those weights are compared, dropout off). Both
with Adam and with FGSAM+ (k = 2, rho 0.1; the plain model's PeerMLP closure is the same
model with every propagation left out, on the episode's nodes only). fgsam's GPN runs three
times: with ``adjacency="edge-index"`` (PyG's edge list) and ``adjacency="csr"`` with dense
features (``fgsam edge-index`` and ``fgsam csr`` rows), and with ``adjacency="csr"`` reading
the features as a CSR matrix (``feature_layout="sparse"``, ``fgsam csr sparse-x`` rows). The
plain GPN reads dense features, as the FGSAM authors' GPN does.

All contenders are timed in one process in interleaved rounds (``measure_step_cost``);
ratios are to the first row (fgsam's first adjacency, Adam); the last table gives, per
optimizer, plain over each fgsam and each other fgsam over fgsam edge-index (medians of per-round
ratios).

    python benchmarks/gpn_sparse.py --root $FGSAM_DATA
    python benchmarks/gpn_sparse.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import warnings

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from fgsam.bench import (
    Contender,
    add_timing_arguments,
    bench_graph,
    make_steps,
    measure_step_cost,
    timing_device,
    timing_header,
)
from fgsam.bench.step_cost import LR, WEIGHT_DECAY
from fgsam.data import class_sizes
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.method_registry import create_method
from fgsam.fewshot.sampler import EpisodeSampler, derive_seed
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--datasets", default="blogcatalog,wiki", help="catalog graphs")
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--way", type=int, default=5)
parser.add_argument("--shot", type=int, default=3)
parser.add_argument("--query", type=int, default=10)
parser.add_argument("--tasks", type=int, default=40, help="episodes in the pool")
add_timing_arguments(parser, rounds=9, steps=10, steps_help="steps per round (a multiple of 2)")
args = parser.parse_args()
device = timing_device(args)
warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
OPTIMIZERS = {"adam": ("adam", {}), "fgsam+": ("fgsam+", {"rho": 0.1, "k": 2})}
DROPOUT, SEED = 0.2, 0


class PlainGPN(nn.Module):
    """GPN with fgsam's shapes; ``adj=None`` is the PeerMLP view (no propagation)."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.ModuleList([nn.Linear(features, 2 * hidden), nn.Linear(2 * hidden,
                                                                                hidden)])
        self.valuator = nn.ModuleList([nn.Linear(features, 2 * hidden), nn.Linear(2 * hidden,
                                                                                  hidden)])
        self.score = nn.Linear(hidden, 1)

    @torch.no_grad()
    def copy_from(self, gpn: nn.Module) -> PlainGPN:
        """Take the weights of fgsam's GPN ``gpn`` (its GCNConv's ``lin.weight`` and
        ``bias``, the valuator's score)."""
        for mine, convs in ((self.encoder, gpn.encoder.convs),
                            (self.valuator, gpn.valuator.gnn.convs)):
            for lin, conv in zip(mine, convs, strict=True):
                lin.weight.copy_(conv.lin.weight)
                lin.bias.copy_(conv.bias)
        self.score.load_state_dict(gpn.valuator.score.state_dict())
        return self

    def gcn(self, layers: nn.ModuleList, x: Tensor, adj: Tensor | None, act_last: bool):
        for i, lin in enumerate(layers):
            x = x @ lin.weight.t()
            x = (x if adj is None else torch.sparse.mm(adj, x)) + lin.bias  # GCNConv's order
            if i < len(layers) - 1 or act_last:
                x = F.relu(x)
            if i < len(layers) - 1:
                x = F.dropout(x, DROPOUT, self.training)
        return x

    def loss(self, x: Tensor, adj: Tensor | None, log_degree: Tensor, episode) -> Tensor:
        n, k, support = episode.n_way, episode.k_shot, episode.support.numel()
        if adj is None:  # the episode's rows only
            z = self.gcn(self.encoder, x[episode.nodes], None, False)
            scores = self.score(self.gcn(self.valuator, x[episode.support], None, True))
            z_s, z_q = z[:support], z[support:]
        else:
            z = self.gcn(self.encoder, x, adj, False)
            scores = self.score(self.gcn(self.valuator, x, adj, True))[episode.support]
            z_s, z_q = z[episode.support], z[episode.query]
        weights = F.softmax(F.logsigmoid(log_degree[episode.support] * scores.view(-1))
                            .view(n, k, 1), dim=1)
        prototypes = (z_s.view(n, k, -1) * weights).sum(1)
        distances = (z_q.unsqueeze(1) - prototypes.unsqueeze(0)).pow(2).sum(-1)
        return F.cross_entropy(-distances, episode.query_y)


def plain_steps(data: Data) -> tuple[dict, tuple[float, float]]:
    """The plain GPN's step per optimizer, on make_steps' pool of episodes, from fgsam's
    initial GPN weights; and, at those weights without dropout, the largest differences of
    the two models' embeddings and valuator scores on the graph and of their losses over
    the pool (GNN and PeerMLP views)."""
    csr = T.ToSparseTensor(layout=torch.sparse_csr)(Data(edge_index=data.edge_index,
                                                        num_nodes=data.num_nodes)).adj_t
    log_degree = csr.crow_indices().diff().to(data.x.dtype).clamp(min=1.0).log()
    adj = gcn_norm(csr, add_self_loops=True)[0]  # D^-1/2 (A + I) D^-1/2, CSR
    labels = data.y.cpu()
    classes = [c for c, size in sorted(class_sizes(labels).items())
               if size >= args.shot + args.query]
    pool = [e.to(device) for e in EpisodeSampler(
        labels, classes, args.way, args.shot, args.query,
        generator=derive_seed(SEED, "bench")).sample_tasks(args.tasks)]
    gpn = create_method("gpn", data.num_features, int(data.y.max()) + 1, args.way,
                        args.hidden, DROPOUT)
    gpn.reset_parameters(SEED)  # as make_steps starts it
    gpn = gpn.to(device).eval()
    plain = PlainGPN(data.num_features, args.hidden).copy_from(gpn).to(device).eval()
    with torch.no_grad():
        g = gpn.graph(data)
        outputs = ((gpn.encoder(data.x, g.edge_index, g.edge_weight),
                    plain.gcn(plain.encoder, data.x, adj, False)),
                   (gpn.valuator(data.x, g.edge_index, g.edge_weight),
                    plain.score(plain.gcn(plain.valuator, data.x, adj, True)).squeeze(-1)))
        difference = (max((a - b).abs().max().item() for a, b in outputs),
                      max((gpn.loss(data, e, peer=peer) - plain.loss(
                          data.x, None if peer else adj, log_degree, e)).abs().item()
                          for e in pool for peer in (False, True)))
    steps = {}
    for name, (optimizer, options) in OPTIMIZERS.items():
        model = PlainGPN(data.num_features, args.hidden).copy_from(gpn).to(device).train()
        opt = create_optimizer(model, optimizer, lr=LR, weight_decay=WEIGHT_DECAY, **options)
        cycle = itertools.cycle(pool)

        def step(model=model, opt=opt, cycle=cycle):
            episode = next(cycle)
            return training_step(opt, lambda: model.loss(data.x, adj, log_degree, episode),
                                 lambda: model.loss(data.x, None, log_degree, episode))

        steps[f"plain {name}"] = step
    return steps, difference


contenders = [Contender(name, optimizer, options)
              for name, (optimizer, options) in OPTIMIZERS.items()]
# fgsam's GPN by each (adjacency, feature layout); the first is the reference
LAYOUTS = [("edge-index", "dense"), ("csr", "dense"), ("csr", "sparse")]
FGSAM = [f"fgsam {a}" if f == "dense" else f"fgsam {a} {f}-x" for a, f in LAYOUTS]
tables, ratios, checks = [], [], []
for dataset in args.datasets.split(","):
    data, train = bench_graph(dataset, None, args.root)
    data = normalize_features(data, "l2").to(device)
    shared = {"hidden": args.hidden, "n_way": args.way, "k_shot": args.shot,
              "q_query": args.query, "tasks": args.tasks, "seed": SEED, "method": "gpn"}
    steps = {}
    for prefix, (adjacency, layout) in zip(FGSAM, LAYOUTS, strict=True):
        steps |= {f"{prefix} {k}": f for k, f in make_steps(
            data, train, contenders, **shared, adjacency=adjacency,
            feature_layout=layout).items()}
    plain, difference = plain_steps(data)
    steps |= plain
    checks.append(f"{dataset}: at the initial weights, dropout off, fgsam GPN - plain GPN: "
                  f"max abs difference {difference[0]:.1e} of the embeddings and valuator "
                  f"scores, {difference[1]:.1e} of the losses over the {args.tasks} episodes")
    costs = measure_step_cost(steps, rounds=args.rounds, steps_per_round=args.steps,
                              clock=args.clock, device=device, memory=False)
    graph = f"{dataset} | {data.num_nodes:,} | {data.num_edges:,}"
    tables += [f"| {graph} | {label} | {cost.ms:.3f} | {cost.ratio:.3f} |"
               for label, cost in costs.items()]
    for name in OPTIMIZERS:
        for other, reference in [("plain", f) for f in FGSAM] + [(f, FGSAM[0]) for f in FGSAM[1:]]:
            paired = statistics.median(a / b for a, b in zip(
                costs[f"{other} {name}"].per_step_ms, costs[f"{reference} {name}"].per_step_ms))
            ratios.append(f"| {dataset} | {name} | {other} / {reference} | {paired:.3f} |")
    print(f"done: {dataset}", file=sys.stderr, flush=True)
    del data, steps

print(timing_header(args, f"GPN hidden {args.hidden}, {args.way}-way {args.shot}-shot "
                          f"{args.query}-query; FGSAM+ k=2 rho 0.1") + "\n")
print("\n".join(checks) + "\n")
print(f"| graph | nodes | edges | step | ms / step | ratio to {FGSAM[0]} adam |")
print("|---|---|---|---|---|---|")
print("\n".join(tables))
print("\n| graph | optimizer | ratio | median of per-round ratios |")
print("|---|---|---|---|")
print("\n".join(ratios))
