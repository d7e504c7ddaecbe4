"""Train a PyG GCN on Cora with Adam, SAM, FGSAM and FGSAM+; compare accuracy and time.

FGSAM needs two closures: the loss through the GNN, and the same loss through the GNN's
PeerMLP view (``fgsam.nn.peer_forward``: the same weights, message passing removed, run on
the training rows only). SAM's second pass over the whole graph becomes a pass over the
140 training rows.

    python examples/fgsam_node_classification.py [--root DATA_ROOT] [--epochs 200]

Cora's Planetoid files are read from ``<root>/planetoid/Cora/raw`` (root: ``--root``, else
``$FGSAM_DATA``, else ``./datasets``) and copied to a temporary folder, because PyG writes
``processed/`` beside ``raw/``.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN

from fgsam.data import data_root
from fgsam.nn import peer_forward
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--weight-decay", type=float, default=5e-4)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--adjacency", choices=("auto", "csr", "edge-index"), default="auto",
                    help="the GCN's graph: a CSR sparse matrix (one fused product), PyG's edge "
                         "list, or auto: CSR where it is the faster (default: auto)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = parser.parse_args()

# ---------------------------------------------------------------- the data
raw = data_root(args.root) / "planetoid" / "Cora"
if not (raw / "raw").is_dir():
    sys.exit(
        f"Cora's Planetoid files (ind.cora.x, .y, .tx, .ty, .allx, .ally, .graph, .test.index) "
        f"are expected in {raw / 'raw'}; pass --root or set FGSAM_DATA"
    )
with tempfile.TemporaryDirectory() as tmp:
    shutil.copytree(raw, Path(tmp) / "Cora")
    data = Planetoid(tmp, "Cora", transform=T.NormalizeFeatures())[0].to(args.device)
train = data.train_mask.nonzero().view(-1)  # the PeerMLP only needs these rows
# GCNConv propagates by one sparse product when given adj_t; the PeerMLP needs no graph
probe = GCN(data.num_features, args.hidden, 2, int(data.y.max()) + 1)
graph = (csr_adjacency(data.edge_index, data.num_nodes)
         if resolve_adjacency(args.adjacency, probe, data.edge_index.size(1)) == "csr"
         else data.edge_index)

# ----------------------------------------------------- the four optimizers
# name -> (registry name, method's hyper-parameters)
OPTIMIZERS = {
    "Adam": ("adam", {}),
    "SAM": ("sam", {"rho": 0.05}),
    "FGSAM": ("fgsam", {"rho": 0.05, "lam": 1.0}),
    "FGSAM+": ("fgsam+", {"rho": 0.1, "lam": 1.0, "k": 2, "alpha": 0.7}),
}


def run(registry_name: str, hyper: dict) -> tuple[float, float]:
    """Train from the same initialisation; return (test accuracy at best val, seconds)."""
    torch.manual_seed(args.seed)
    model = GCN(data.num_features, args.hidden, 2, int(data.y.max()) + 1, dropout=0.5)
    model = model.to(args.device)
    opt = create_optimizer(model, registry_name, lr=args.lr, weight_decay=args.weight_decay,
                           seed=args.seed, **hyper)

    def gnn_closure():  # the loss through the GNN, on the whole graph
        out = model(data.x, graph)
        return F.cross_entropy(out[train], data.y[train])

    def peer_closure():  # the same loss through the PeerMLP, on the training rows only
        return F.cross_entropy(peer_forward(model, data.x, train), data.y[train])

    best_val, best_test, seconds = -1.0, 0.0, 0.0
    for _ in range(args.epochs):
        model.train()
        if args.device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        training_step(opt, gnn_closure, peer_closure)  # Adam ignores the PeerMLP closure
        if args.device != "cpu":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start

        model.eval()
        with torch.no_grad():
            pred = model(data.x, graph).argmax(1)
        val = (pred[data.val_mask] == data.y[data.val_mask]).float().mean().item()
        test = (pred[data.test_mask] == data.y[data.test_mask]).float().mean().item()
        if val > best_val:
            best_val, best_test = val, test
    return best_test, seconds


# ------------------------------------------------------------------ results
print(f"Cora, GCN (hidden {args.hidden}), {args.epochs} epochs, seed {args.seed}, "
      f"{args.device}")
print(f"{'optimizer':<10} {'test acc':>9} {'train time (s)':>15} {'ratio to Adam':>14}")
base = None
for name, (registry_name, hyper) in OPTIMIZERS.items():
    acc, seconds = run(registry_name, hyper)
    base = base or seconds
    print(f"{name:<10} {acc:>9.4f} {seconds:>15.2f} {seconds / base:>14.2f}")
