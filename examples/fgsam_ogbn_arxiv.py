"""FGSAM+ against Adam on ogbn-arxiv: sampled training, exact layer-wise inference, torchrun.

A GraphSAGE trains on mini-batches of sampled neighbourhoods (fan-out 15,10,5 by default);
FGSAM-style optimizers take their second pass through the PeerMLP view on the seed rows
only. Validation and test accuracy come from exact layer-wise inference over the whole
graph and OGB's own evaluator. Under ``torchrun`` each process takes its share of every
step's seed nodes, DistributedDataParallel averages the descent gradient, the ascent stays
local unless ``--sync-ascent``, and the layer-wise inference is split over the processes.

    python examples/fgsam_ogbn_arxiv.py                        # arxiv-shaped synthetic graph
    python examples/fgsam_ogbn_arxiv.py --dataset ogbn-arxiv   # the real one (OGB download)
    torchrun --nproc_per_node=2 examples/fgsam_ogbn_arxiv.py   # two processes

The synthetic graph has ogbn-arxiv's shape (169,343 nodes, 128 features, 40 classes) and
OGB's split sizes; ``--scale`` shrinks it. The real dataset is read (or downloaded) by OGB
into ``<root>/ogb/ogbn_arxiv``.
"""

import argparse
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from fgsam.data.neighbor_loader import neighbor_loader
from fgsam.data.node_dataset import load_node_dataset, synthetic_node_dataset
from fgsam.nn import peer_forward
from fgsam.node import (
    build_node_model,
    init_distributed,
    layerwise_inference,
    prepare_graph,
    shutdown_distributed,
)
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--dataset", choices=["synthetic", "ogbn-arxiv"], default="synthetic")
parser.add_argument("--scale", type=float, default=1.0,
                    help="synthetic graph: nodes and edges times this, in (0, 1]")
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA)")
parser.add_argument("--optimizers", default="adam,fgsam+", help="registry names, comma-separated")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per step and process")
parser.add_argument("--fanout", default="15,10,5", help="in-edges sampled per layer")
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--dropout", type=float, default=0.5)
parser.add_argument("--lr", type=float, default=0.003)
parser.add_argument("--sync-ascent", action="store_true",
                    help="all-reduce the ascent gradient too (default: per-process ascent)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
fanout = [int(k) for k in args.fanout.split(",")]
device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
ctx, device = init_distributed(device)  # one process without torchrun
say = print if ctx.is_main else (lambda *a, **k: None)

# ------------------------------------------------------------------ the graph and its split
if args.dataset == "ogbn-arxiv":
    dataset = load_node_dataset("ogbn-arxiv", args.root)
else:
    dataset = synthetic_node_dataset("ogbn-arxiv", args.scale, seed=args.seed)
data = dataset.data
edge_index, edge_weight = prepare_graph("sage", data.edge_index, data.num_nodes)
say(f"{dataset.name}: {data.num_nodes:,} nodes, {edge_index.size(1):,} edges, "
    f"train/val/test {dataset.train_idx.numel():,}/{dataset.val_idx.numel():,}/"
    f"{dataset.test_idx.numel():,}, {ctx.world_size} process(es), device {device}")


def evaluate(model: torch.nn.Module) -> tuple[float, float]:
    """Validation and test accuracy from exact layer-wise inference over the whole graph."""
    model.eval()
    logits = layerwise_inference(model, data.x, edge_index, edge_weight, batch_size=4096,
                                 ctx=ctx, device=device)
    return (dataset.accuracy(logits.cpu(), dataset.val_idx),
            dataset.accuracy(logits.cpu(), dataset.test_idx))


def train(name: str) -> None:
    torch.manual_seed(args.seed)  # the same initial weights on every process
    model = build_node_model("sage", data.num_features, dataset.num_classes,
                             hidden=args.hidden, layers=len(fanout), dropout=args.dropout,
                             norm="batch").to(device)
    trained = DistributedDataParallel(model) if ctx.enabled else model
    opt = create_optimizer(trained, name, lr=args.lr, seed=args.seed,
                           **({"sync_ascent": True} if args.sync_ascent and name != "adam"
                              else {}))
    # one seed order for all processes, each taking its share of every step
    batches = neighbor_loader(data, fanout, input_nodes=dataset.train_idx,
                              batch_size=args.batch_size, shuffle=True, seed=args.seed,
                              rank=ctx.rank, world_size=ctx.world_size)
    for epoch in range(1, args.epochs + 1):
        model.train()
        batches.set_epoch(epoch)
        start, total, count = time.perf_counter(), 0.0, 0
        for batch in batches:
            batch = batch.to(device)
            seeds, y = batch.batch_size, batch.y[: batch.batch_size]

            def gnn_closure(batch=batch, seeds=seeds, y=y):  # the sampled subgraph
                return F.cross_entropy(trained(batch.x, batch.edge_index)[:seeds], y)

            def peer_closure(batch=batch, seeds=seeds, y=y):  # the seed rows only
                return F.cross_entropy(peer_forward(trained, batch.x[:seeds]), y)

            loss = training_step(opt, gnn_closure, peer_closure)
            total, count = total + float(loss) * seeds, count + seeds
        seconds = time.perf_counter() - start
        val, test = evaluate(model)
        say(f"{name:>7} epoch {epoch}: loss {total / count:.4f}, {seconds:.1f} s, "
            f"{count * ctx.world_size / seconds:,.0f} seed nodes/s, val {val:.4f}, "
            f"test {test:.4f}")


try:
    for name in args.optimizers.split(","):
        train(name.strip())
finally:
    shutdown_distributed(ctx)
