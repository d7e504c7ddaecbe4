"""FGSAM on a graph trained in mini-batches of sampled neighbourhoods.

Each mini-batch is a sampled subgraph around ``batch_size`` seed nodes, the first rows of
``batch.x`` (fgsam.data.NeighborSampler: pure PyTorch, nothing to compile). FGSAM's GNN
closure runs the model on the subgraph and takes the loss on the seeds; its PeerMLP
closure runs the same weights, message passing removed, on the seed rows only
(``batch.x[:batch.batch_size]``), so the second pass never touches the sampled
neighbourhood. Validation and test accuracy are measured the same way, on sampled
neighbourhoods of the validation and test nodes, so the full graph never goes through
the model at once.

    python examples/fgsam_large_graph.py                   # synthetic ogbn-arxiv-shaped graph
    python examples/fgsam_large_graph.py --dataset cora    # Cora from $FGSAM_DATA or --root
    python examples/fgsam_large_graph.py --loader pyg      # PyG's NeighborLoader instead

For each optimizer it prints one line per epoch: mean training loss, seconds (sampling
included), validation and test accuracy. ``--loader pyg`` needs ``pyg-lib`` or
``torch-sparse``.
"""

import argparse
import sys
import time

import torch
import torch.nn.functional as F
import torch_geometric.typing
from torch_geometric.nn import GraphSAGE
from torch_geometric.utils import to_undirected

from fgsam.data import NeighborSampler, load_graph, synthetic_graph
from fgsam.nn import peer_forward
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--dataset", choices=["arxiv-synthetic", "cora"], default="arxiv-synthetic")
parser.add_argument("--root", default=None, help="data root for Cora (default: $FGSAM_DATA)")
parser.add_argument("--loader", choices=["fgsam", "pyg"], default="fgsam",
                    help="fgsam: fgsam.data.NeighborSampler; pyg: torch_geometric's "
                         "NeighborLoader (needs pyg-lib or torch-sparse)")
parser.add_argument("--optimizers", default="adam,fgsam", help="registry names, comma-separated")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=1024)
parser.add_argument("--num-neighbors", default="5,5", help="neighbours sampled per layer")
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--lr", type=float, default=0.005)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
parser.add_argument("--signal", type=float, default=0.15,
                    help="class signal of the synthetic features (lower is harder)")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
if args.loader == "pyg" and not (torch_geometric.typing.WITH_PYG_LIB
                                 or torch_geometric.typing.WITH_TORCH_SPARSE):
    sys.exit("--loader pyg: PyG's NeighborLoader needs pyg-lib or torch-sparse; "
             "the default --loader fgsam needs neither")
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
fan_outs = [int(k) for k in args.num_neighbors.split(",")]

# ---------------------------------------------------------------- the data (stays on the CPU)
if args.dataset == "cora":
    data, _ = load_graph("cora", args.root)
    ids = torch.arange(data.num_nodes)  # Planetoid's standard split, in PyG's node order
    splits = {"train": ids < 140, "val": (ids >= 140) & (ids < 640), "test": ids >= 1708}
else:  # the shape of ogbn-arxiv (169,343 nodes, 2.3 M undirected edges, 128 features)
    data = synthetic_graph("ogbn-arxiv", seed=args.seed, signal=args.signal)
    data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    perm = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(args.seed))
    cut1, cut2 = int(0.54 * data.num_nodes), int(0.72 * data.num_nodes)  # OGB-like sizes
    splits = {}
    for name, nodes in (("train", perm[:cut1]), ("val", perm[cut1:cut2]), ("test", perm[cut2:])):
        splits[name] = torch.zeros(data.num_nodes, dtype=torch.bool)
        splits[name][nodes] = True
num_classes = int(data.y.max()) + 1
print(f"{args.dataset}: {data.num_nodes:,} nodes, {data.num_edges:,} edges, "
      f"{int(splits['train'].sum()):,} training nodes, fan-outs {fan_outs}, "
      f"loader {args.loader}, device {device}")


def loader(nodes: torch.Tensor, batch_size: int, shuffle: bool):
    if args.loader == "pyg":
        from torch_geometric.loader import NeighborLoader

        return NeighborLoader(data, fan_outs, input_nodes=nodes, batch_size=batch_size,
                              shuffle=shuffle,
                              generator=torch.Generator().manual_seed(args.seed))
    return NeighborSampler(data, fan_outs, input_nodes=nodes, batch_size=batch_size,
                           shuffle=shuffle, generator=args.seed)


@torch.no_grad()
def evaluate(model: torch.nn.Module, mask: torch.Tensor) -> float:
    """Accuracy on the nodes of ``mask``, each computed from its sampled neighbourhood."""
    model.eval()
    correct = 0
    for batch in loader(mask, 4 * args.batch_size, shuffle=False):
        batch = batch.to(device)
        pred = model(batch.x, batch.edge_index)[: batch.batch_size].argmax(1)
        correct += int((pred == batch.y[: batch.batch_size]).sum())
    return correct / int(mask.sum())


def train(optimizer_name: str) -> None:
    torch.manual_seed(args.seed)  # the model's initial weights (and pyg-lib's sampling)
    batches = loader(splits["train"], args.batch_size, shuffle=True)
    model = GraphSAGE(data.num_features, args.hidden, 2, num_classes, dropout=0.2).to(device)
    opt = create_optimizer(model, optimizer_name, lr=args.lr, weight_decay=5e-4, seed=args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        for batch in batches:
            batch = batch.to(device)
            seeds, y = batch.batch_size, batch.y[: batch.batch_size]

            def gnn_closure(batch=batch, seeds=seeds, y=y):  # the sampled subgraph
                return F.cross_entropy(model(batch.x, batch.edge_index)[:seeds], y)

            def peer_closure(batch=batch, seeds=seeds, y=y):  # the seed rows only
                return F.cross_entropy(peer_forward(model, batch.x[:seeds]), y)

            loss = training_step(opt, gnn_closure, peer_closure)
            total, count = total + float(loss) * seeds, count + seeds
        seconds = time.perf_counter() - start
        val, test = evaluate(model, splits["val"]), evaluate(model, splits["test"])
        print(f"{optimizer_name:>7} epoch {epoch}: loss {total / count:.4f}, "
              f"{seconds:.1f} s (sampling included), val {val:.4f}, test {test:.4f}")


for name in args.optimizers.split(","):
    train(name)
