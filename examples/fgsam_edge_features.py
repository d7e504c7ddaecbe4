"""Train a GINE node classifier with edge features by FGSAM, on a synthetic graph.

FGSAM's second pass runs the GNN as its PeerMLP (``fgsam.nn.peer_forward``): the same
weights on a graph whose only edges are self-loops. A GINEConv needs an edge attribute on
each of those self-loops, and which one is the user's choice, passed as ``edge_attr=``:

- ``learned``: a self-loop embedding the model owns (a callable ``(n) -> [n, F_e]``), trained
  with the rest through the PeerMLP loss (only FGSAM's PeerMLP pass reaches it: under Adam
  it stays 0, unused);
- ``zeros``: the constant 0 on every self-loop;
- ``mean``: each node's mean incoming edge attribute on the real graph (PyG's
  ``add_self_loops(fill_value="mean")``), computed once and passed as ``[n, F_e]`` rows.

    python examples/fgsam_edge_features.py [--epochs 100] [--loop-attr learned]
"""

import argparse
import time

import torch
import torch.nn.functional as F
from torch_geometric.nn import GINEConv
from torch_geometric.utils import add_self_loops

from fgsam.data import GraphShape, synthetic_graph
from fgsam.nn import peer_forward
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--nodes", type=int, default=1000)
parser.add_argument("--edges", type=int, default=6000)
parser.add_argument("--features", type=int, default=16)
parser.add_argument("--classes", type=int, default=4)
parser.add_argument("--edge-dim", type=int, default=4)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--rho", type=float, default=0.05)
parser.add_argument("--loop-attr", choices=("learned", "zeros", "mean"), default="learned",
                    help="the self-loops' edge attribute in the PeerMLP (default: learned)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# ---------------------------------------------------------------- the data
shape = GraphShape(args.nodes, args.edges, args.features, args.classes)
data = synthetic_graph(shape, seed=args.seed, homophily=0.7, signal=0.5)
src, dst = data.edge_index
gen = torch.Generator().manual_seed(args.seed)
# Edge features that carry signal: whether an edge stays in its class, plus seeded noise.
same = (data.y[src] == data.y[dst]).float().unsqueeze(1)
data.edge_attr = torch.cat([same, torch.randn(src.numel(), args.edge_dim - 1, generator=gen)], 1)
order = torch.randperm(args.nodes, generator=gen)
train, val, test = order[: args.nodes // 10], order[args.nodes // 10: args.nodes // 5], \
    order[args.nodes // 5:]
# PyG's "mean" self-loop fill needs the real edges, so it is taken here, once, for every node.
mean_fill = add_self_loops(data.edge_index, data.edge_attr, fill_value="mean",
                           num_nodes=args.nodes)[1][-args.nodes:]


class GINE(torch.nn.Module):
    """Two GINEConv layers with edge features and a learned self-loop attribute."""

    def __init__(self) -> None:
        super().__init__()
        mlp = lambda i, o: torch.nn.Sequential(  # noqa: E731
            torch.nn.Linear(i, o), torch.nn.ReLU(), torch.nn.Linear(o, o))
        self.conv1 = GINEConv(mlp(args.features, args.hidden), edge_dim=args.edge_dim)
        self.conv2 = GINEConv(mlp(args.hidden, args.hidden), edge_dim=args.edge_dim)
        self.out = torch.nn.Linear(args.hidden, args.classes)
        self.loop = torch.nn.Parameter(torch.zeros(args.edge_dim))  # learned self-loop e

    def forward(self, x, edge_index, edge_attr):
        x = self.conv1(x, edge_index, edge_attr).relu()
        x = F.dropout(x, 0.2, self.training)
        return self.out(self.conv2(x, edge_index, edge_attr).relu())

    def loop_attr(self, n: int) -> torch.Tensor:
        """The self-loops' edge attribute for ``n`` rows: the learned vector."""
        return self.loop.expand(n, -1)


def run(name: str, hyper: dict) -> tuple[float, float]:
    """Train from a seeded initialisation; return (test accuracy at best val, seconds)."""
    torch.manual_seed(args.seed)
    model = GINE()
    opt = create_optimizer(model, name, lr=args.lr, seed=args.seed, **hyper)
    loop = {"learned": model.loop_attr, "zeros": 0.0, "mean": mean_fill[train]}[args.loop_attr]

    def gnn_closure():  # the loss through the GNN, on the whole graph and its edge features
        out = model(data.x, data.edge_index, data.edge_attr)
        return F.cross_entropy(out[train], data.y[train])

    def peer_closure():  # the same loss through the PeerMLP: training rows, self-loop edges
        out = peer_forward(model, data.x, train, edge_attr=loop)
        return F.cross_entropy(out, data.y[train])

    best_val, best_test, seconds = -1.0, 0.0, 0.0
    for _ in range(args.epochs):
        model.train()
        start = time.perf_counter()
        training_step(opt, gnn_closure, peer_closure)  # Adam ignores the PeerMLP closure
        seconds += time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            pred = model(data.x, data.edge_index, data.edge_attr).argmax(1)
        val_acc = (pred[val] == data.y[val]).float().mean().item()
        if val_acc > best_val:
            best_val = val_acc
            best_test = (pred[test] == data.y[test]).float().mean().item()
    return best_test, seconds


print(f"synthetic graph: {args.nodes} nodes, {data.edge_index.size(1)} edges with "
      f"{args.edge_dim} features, {args.classes} classes; GINE (hidden {args.hidden}), "
      f"{args.epochs} epochs, self-loop edge attribute: {args.loop_attr}")
print(f"{'optimizer':<10} {'test acc':>9} {'train time (s)':>15}")
for label, name, hyper in (("Adam", "adam", {}),
                           ("FGSAM", "fgsam", {"rho": args.rho, "lam": 1.0})):
    acc, seconds = run(name, hyper)
    print(f"{label:<10} {acc:>9.4f} {seconds:>15.2f}")
