"""Throughput of sampled node classification: seed nodes per second, one or more processes.

``fgsam node``'s training step (``fgsam.node.train.batch_step``: the GNN on each batch's
sampled subgraph, FGSAM-style optimizers' PeerMLP pass on its seed rows) on a synthetic
graph of a benchmark's shape (``--shape``, ``--scale``), mini-batches from
``NodeGraph.loader`` (fgsam's NeighborSampler: each process its share of one seed order).
Optimizers are interleaved: ``--rounds`` rounds of ``--steps`` steps each, sampling
included, after ``--warmup`` steps each. Per optimizer: the median step time (wall clock,
processes synchronised by the step itself under DDP, and this process's CPU time), seed
nodes per second of all processes (``world × batch size / median wall step``) and the peak
resident memory of each process. ``--features FILE`` reads the node features from a raw
float32 file as a memmap (write one with ``--write-features``) instead of memory.

    python benchmarks/node_scale.py --shape ogbn-arxiv --threads 1
    torchrun --nproc_per_node=2 benchmarks/node_scale.py --shape ogbn-arxiv --threads 1
    python benchmarks/node_scale.py --shape ogbn-products --scale 0.1 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from fgsam._distributed import init_distributed, shutdown_distributed
from fgsam.bench import machine_description
from fgsam.data.node_dataset import synthetic_node_dataset
from fgsam.data.row_features import memmap_features
from fgsam.nn.adjacency import ADJACENCIES, resolve_adjacency
from fgsam.node.config import NodeConfig, build_node_optimizer
from fgsam.node.graph import NodeGraph
from fgsam.node.models import build_node_model
from fgsam.node.train import batch_step, peak_memory_mb

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--shape", default="ogbn-arxiv")
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--model", default="sage")
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--fanout", default="15,10,5")
parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per step and process")
parser.add_argument("--optimizers", default="adam,fgsam+")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--steps", type=int, default=4, help="steps per optimizer per round")
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--threads", type=int, default=None)
parser.add_argument("--features", default=None, metavar="FILE",
                    help="read the features from this raw float32 [nodes, F] file (memmap)")
parser.add_argument("--in-memory", action="store_true",
                    help="read the whole --features file into memory first (the baseline of "
                         "the memmap path: same features, no disk)")
parser.add_argument("--write-features", type=int, default=None, metavar="F",
                    help="write --features as F random float32 columns per node, then exit")
parser.add_argument("--adjacency", choices=ADJACENCIES, default="auto",
                    help="propagation of the sampled subgraphs (as fgsam node --adjacency)")
parser.add_argument("--out", default=None, help="append the result as one JSON line here")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
ctx, device = init_distributed("cpu")
dataset = synthetic_node_dataset(args.shape, args.scale)
n = dataset.data.num_nodes
if args.write_features is not None:  # rows of random features, written in slices
    with open(args.features, "wb") as f:
        gen = np.random.default_rng(0)
        for start in range(0, n, 8192):
            rows = min(8192, n - start)
            f.write(gen.standard_normal((rows, args.write_features), dtype=np.float32).tobytes())
    print(f"wrote {args.features}: [{n}, {args.write_features}] float32")
    raise SystemExit(0)
features = None
if args.features is not None:
    features = memmap_features(args.features, n, os.path.getsize(args.features) // (4 * n))
    if args.in_memory:
        features = torch.from_numpy(np.array(features))
graph = NodeGraph.make(dataset, args.model, device, features)
fanout = [int(k) for k in args.fanout.split(",")]
names = args.optimizers.split(",")
config = NodeConfig(model=args.model, optimizers=names, hidden=args.hidden, layers=len(fanout),
                    batch_size=args.batch_size, fanout=fanout, loader="fgsam", lr=0.003)
runs = {}
for name in names:
    torch.manual_seed(0)
    model = build_node_model(args.model, graph.num_features, graph.num_classes,
                             **config.model_kwargs())
    trained = DistributedDataParallel(model) if ctx.enabled else model
    opt, _ = build_node_optimizer(trained, config, name, total_steps=10**6, seed=0)
    loader = graph.loader(config, seed=0, ctx=ctx)
    adjacency = resolve_adjacency(args.adjacency, model, int(graph.edge_index.size(1)),
                                  graph.num_features)
    runs[name] = {"model": trained, "opt": opt, "loader": loader, "iter": None, "epoch": 0,
                  "wall": [], "cpu": []}


def next_batch(run):
    while True:
        if run["iter"] is None:
            run["loader"].set_epoch(run["epoch"])
            run["iter"], run["epoch"] = iter(run["loader"]), run["epoch"] + 1
        try:
            return next(run["iter"])
        except StopIteration:
            run["iter"] = None


def steps(run, count, record):
    run["model"].train()
    for _ in range(count):
        start, cpu = time.perf_counter(), time.process_time()
        batch_step(run["opt"], run["model"], next_batch(run), adjacency, graph.in_degree)
        if record:
            run["wall"].append(time.perf_counter() - start)
            run["cpu"].append(time.process_time() - cpu)


for run in runs.values():
    steps(run, args.warmup, record=False)
for _ in range(args.rounds):
    for run in runs.values():
        steps(run, args.steps, record=True)
memory = peak_memory_mb(ctx)
if ctx.is_main:
    result = {"shape": args.shape, "scale": args.scale, "nodes": n,
              "edges": int(graph.edge_index.size(1)), "features": graph.num_features,
              "features_on_disk": features is not None and not args.in_memory,
              "model": args.model,
              "adjacency": adjacency,
              "hidden": args.hidden, "fanout": fanout, "batch_size": args.batch_size,
              "processes": ctx.world_size, "threads": torch.get_num_threads(),
              "machine": machine_description("cpu"), "peak_memory_mb": memory, "optimizers": {}}
    print(f"{args.shape}@{args.scale:g}: {n:,} nodes, {graph.edge_index.size(1):,} edges, "
          f"{graph.num_features} features"
          f"{' (memmap)' if features is not None and not args.in_memory else ''}; "
          f"{args.model} hidden {args.hidden} ({adjacency}), fan-out {fanout}, batch "
          f"{args.batch_size} x "
          f"{ctx.world_size} process(es), {torch.get_num_threads()} thread(s) each; "
          f"peak memory per process {', '.join(f'{m:.0f}' for m in memory)} MiB")
    base = None
    for name, run in runs.items():
        wall, cpu = statistics.median(run["wall"]), statistics.median(run["cpu"])
        rate = ctx.world_size * args.batch_size / wall
        base = base or wall
        result["optimizers"][name] = {"median_wall_s": wall, "median_cpu_s": cpu,
                                      "seed_nodes_per_s": rate, "wall_vs_first": wall / base}
        print(f"  {name:>7}: {wall * 1e3:8.1f} ms/step wall, {cpu * 1e3:8.1f} ms CPU, "
              f"{rate:8.0f} seed nodes/s, {wall / base:.2f}x {names[0]}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
ctx.barrier()  # no process leaves the group while another still works in it
shutdown_distributed(ctx)
