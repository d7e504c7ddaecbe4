"""FGSAM on a graph trained in mini-batches with PyG's NeighborLoader.

Each mini-batch is a sampled subgraph around ``batch_size`` seed nodes, the first rows of
``batch.x``. FGSAM's GNN closure runs the model on the subgraph and takes the loss on the
seeds; its PeerMLP closure runs the same weights, message passing removed, on the seed
rows only (``batch.x[:batch.batch_size]``), so the second pass never touches the sampled
neighbourhood.

    python examples/fgsam_large_graph.py                   # synthetic ogbn-arxiv-shaped graph
    python examples/fgsam_large_graph.py --dataset cora    # Cora from $FGSAM_DATA or --root

NeighborLoader needs ``pyg-lib`` or ``torch-sparse`` installed.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import GraphSAGE
from torch_geometric.utils import to_undirected

from fgsam.data import data_root, synthetic_graph
from fgsam.nn import peer_forward
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--dataset", choices=["arxiv-synthetic", "cora"], default="arxiv-synthetic")
parser.add_argument("--root", default=None, help="data root for Cora (default: $FGSAM_DATA)")
parser.add_argument("--optimizers", default="adam,fgsam", help="registry names, comma-separated")
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--batch-size", type=int, default=1024)
parser.add_argument("--num-neighbors", default="5,5", help="neighbours sampled per layer")
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--lr", type=float, default=0.005)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--signal", type=float, default=0.15,
                    help="class signal of the synthetic features (lower is harder)")
args = parser.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# ---------------------------------------------------------------- the data
if args.dataset == "cora":
    from torch_geometric.datasets import Planetoid

    raw = data_root(args.root) / "planetoid" / "Cora"
    if not (raw / "raw").is_dir():
        sys.exit(f"Cora's Planetoid files are expected in {raw / 'raw'}; pass --root")
    with tempfile.TemporaryDirectory() as tmp:  # PyG writes processed/ beside raw/
        shutil.copytree(raw, Path(tmp) / "Cora")
        data = Planetoid(tmp, "Cora")[0]
else:  # the shape of ogbn-arxiv (169,343 nodes, 2.3 M undirected edges, 128 features)
    data = synthetic_graph("ogbn-arxiv", seed=args.seed, signal=args.signal)
    data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    perm = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(args.seed))
    cut1, cut2 = int(0.54 * data.num_nodes), int(0.72 * data.num_nodes)  # OGB-like sizes
    for name, nodes in (("train", perm[:cut1]), ("val", perm[cut1:cut2]), ("test", perm[cut2:])):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[nodes] = True
        data[f"{name}_mask"] = mask
num_classes = int(data.y.max()) + 1
print(f"{args.dataset}: {data.num_nodes:,} nodes, {data.num_edges:,} edges, "
      f"{int(data.train_mask.sum()):,} training nodes, device {device}")


@torch.no_grad()
def evaluate(model: torch.nn.Module) -> tuple[float, float]:
    """Full-graph inference (fits in memory here); accuracy on val and test nodes."""
    model.eval()
    pred = model(data.x.to(device), data.edge_index.to(device)).argmax(1).cpu()
    return tuple(float((pred[m] == data.y[m]).float().mean()) for m in (data.val_mask,
                                                                         data.test_mask))


def train(optimizer_name: str) -> None:
    torch.manual_seed(args.seed)
    loader = NeighborLoader(
        data, input_nodes=data.train_mask, batch_size=args.batch_size, shuffle=True,
        num_neighbors=[int(k) for k in args.num_neighbors.split(",")],
        generator=torch.Generator().manual_seed(args.seed),
    )
    model = GraphSAGE(data.num_features, args.hidden, 2, num_classes, dropout=0.2).to(device)
    opt = create_optimizer(model, optimizer_name, lr=args.lr, weight_decay=5e-4)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        for batch in loader:
            batch = batch.to(device)
            seeds, y = batch.batch_size, batch.y[: batch.batch_size]

            def gnn_closure(batch=batch, seeds=seeds, y=y):  # the sampled subgraph
                return F.cross_entropy(model(batch.x, batch.edge_index)[:seeds], y)

            def mlp_closure(batch=batch, seeds=seeds, y=y):  # the seed rows only
                return F.cross_entropy(peer_forward(model, batch.x[:seeds]), y)

            loss = training_step(opt, gnn_closure, mlp_closure)
            total, count = total + float(loss) * seeds, count + seeds
        seconds = time.perf_counter() - start
        val, test = evaluate(model)
        print(f"{optimizer_name:>7} epoch {epoch}: loss {total / count:.4f}, "
              f"{seconds:.1f} s (sampling included), val {val:.4f}, test {test:.4f}")


for name in args.optimizers.split(","):
    train(name)
