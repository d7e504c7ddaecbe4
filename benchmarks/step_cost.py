"""Step cost of FGSAM and FGSAM+ against Adam and SAM, for a 2-layer GCN encoder.

Median time per training step (runs interleaved, in one process), ratios to Adam, and the
peak memory of the steps, on Cora (real) and on synthetic graphs of the exact shape of
CoraFull and ogbn-arxiv (made undirected), for two tasks:

* ``episode``: 5-way 3-shot 10-query episodes (65 labelled nodes): the GNN runs on the full
  graph and a prototypical loss uses the episode's nodes; the PeerMLP runs on those 65
  rows only;
* ``full``: full-graph node classification (Cora's standard split; 20 nodes per class on
  CoraFull; OGB's 54% training fraction on arxiv); the PeerMLP runs on the training rows.

``peermlp`` is a plain Adam step through the PeerMLP alone: ``peermlp / adam`` is the
"PeerMLP step / GNN step" ratio of the cost model (ALGORITHMS.md §2).

    python benchmarks/step_cost.py [--quick] [--root DATA_ROOT] [--device cuda]

On a CPU shared with other work, ``--threads 1 --clock cpu`` times each block by the CPU
time of this process instead of the wall clock, so time spent descheduled does not count.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN
from torch_geometric.utils import to_undirected

from fgsam.bench import interleaved_medians, machine_description, synchronize
from fgsam.data import data_root, synthetic_graph
from fgsam.nn import peer_forward
from fgsam.optim import create_optimizer, training_step

OPTIMIZERS = {  # name -> (registry name, extra arguments)
    "adam": ("adam", {}),
    "sam": ("sam", {"rho": 0.05}),
    "fgsam": ("fgsam", {"rho": 0.05}),
    "fgsam+ k=2": ("fgsam+", {"rho": 0.1, "k": 2}),
    "fgsam+ k=5": ("fgsam+", {"rho": 0.1, "k": 5}),
    "peermlp": ("adam", {}),
}

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--graphs", default="cora,corafull,arxiv")
parser.add_argument("--tasks", default="episode,full")
parser.add_argument("--rounds", type=int, default=9)
parser.add_argument("--steps", type=int, default=10, help="steps per round (a multiple of k)")
parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (CPU device only; use with --threads 1)")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
if args.clock == "cpu" and args.device != "cpu":
    sys.exit("--clock cpu measures the CPU time of this process: use it with --device cpu")
rounds = 3 if args.quick else args.rounds
device = torch.device(args.device)


def load(name: str):
    if name == "cora":
        from torch_geometric.datasets import Planetoid

        raw = data_root(args.root) / "planetoid" / "Cora"
        if not (raw / "raw").is_dir():
            sys.exit(f"Cora's Planetoid files are expected in {raw / 'raw'}")
        with tempfile.TemporaryDirectory() as tmp:  # PyG writes processed/ beside raw/
            shutil.copytree(raw, Path(tmp) / "Cora")
            data = Planetoid(tmp, "Cora")[0]
        return data, data.train_mask.nonzero().view(-1)
    data = synthetic_graph("ogbn-arxiv" if name == "arxiv" else name, seed=0)
    gen = torch.Generator().manual_seed(1)
    if name == "arxiv":
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
        train = torch.randperm(data.num_nodes, generator=gen)[: int(0.537 * data.num_nodes)]
    else:
        classes = range(int(data.y.max()) + 1)
        train = torch.cat([(data.y == c).nonzero().view(-1)[:20] for c in classes])
    return data, train


def episodes(y: torch.Tensor, count: int = 40, n_way: int = 5, k: int = 3, q: int = 10):
    """A pool of (support+query node ids, query labels); support is class-major."""
    gen = torch.Generator().manual_seed(2)
    classes = [c for c in range(int(y.max()) + 1) if int((y == c).sum()) >= k + q]
    pool = []
    for _ in range(count):
        chosen = torch.tensor(classes)[torch.randperm(len(classes), generator=gen)[:n_way]]
        picks = [(y == c).nonzero().view(-1) for c in chosen.tolist()]
        picks = [p[torch.randperm(p.numel(), generator=gen)[: k + q]] for p in picks]
        nodes = torch.cat([p[:k] for p in picks] + [p[k:] for p in picks]).to(device)
        pool.append((nodes, torch.arange(n_way).repeat_interleave(q).to(device)))
    return pool


def proto_loss(z: torch.Tensor, labels: torch.Tensor, n_way: int = 5, k: int = 3):
    protos = z[: n_way * k].view(n_way, k, -1).mean(1)
    return F.cross_entropy(-torch.cdist(z[n_way * k :], protos), labels)


def contender(name: str, data, task: str, train: torch.Tensor, pool):
    registry_name, extra = OPTIMIZERS[name]
    torch.manual_seed(0)
    out = 16 if task == "episode" else int(data.y.max()) + 1
    model = GCN(data.num_features, 16, 2, out, cached=True).to(device)  # transductive: cache Â
    opt = create_optimizer(model, registry_name, lr=5e-3, weight_decay=5e-4, **extra)
    x, edge_index, y = data.x, data.edge_index, data.y
    if task == "episode":
        cycle = itertools.cycle(pool)

        def closures():
            nodes, labels = next(cycle)
            return (lambda: proto_loss(model(x, edge_index)[nodes], labels),
                    lambda: proto_loss(peer_forward(model, x, nodes), labels))
    else:
        def closures():
            return (lambda: F.cross_entropy(model(x, edge_index)[train], y[train]),
                    lambda: F.cross_entropy(peer_forward(model, x, train), y[train]))

    def step():
        gnn, mlp = closures()
        return training_step(opt, mlp if name == "peermlp" else gnn, mlp)

    return step


def cpu_time_medians(steps, rounds: int, steps_per_round: int, warmup: int) -> dict[str, float]:
    """Like ``interleaved_medians`` (same rotation of the order), timed by process CPU time."""
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    per_step: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.process_time()
            for _ in range(steps_per_round):
                steps[name]()
            per_step[name].append((time.process_time() - start) / steps_per_round)
    return {name: statistics.median(v) for name, v in per_step.items()}


def peak_memory_mib(step, n: int) -> float:
    """Peak memory above the level before ``n`` steps (CUDA allocator, or process RSS)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        for _ in range(n):
            step()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back, so the peak is fresh
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    base = _status_kib("VmRSS")
    for _ in range(n):
        step()
    return (_status_kib("VmHWM") - base) / 1024


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


rows, checks = [], []
for graph in args.graphs.split(","):
    data, train = load(graph)
    data, train = data.to(device), train.to(device)
    pool = episodes(data.y.cpu())
    for task in args.tasks.split(","):
        steps = {name: contender(name, data, task, train, pool) for name in OPTIMIZERS}
        if args.clock == "cpu":
            seconds = cpu_time_medians(steps, rounds, args.steps, warmup=args.steps)
        else:
            timings = interleaved_medians(steps, rounds=rounds, steps_per_round=args.steps,
                                          warmup=args.steps, device=device)
            seconds = {name: t.median for name, t in timings.items()}
        ms = {name: value * 1e3 for name, value in seconds.items()}
        memory = {name: peak_memory_mib(step, args.steps) for name, step in steps.items()}
        loss_rows = 65 if task == "episode" else train.numel()
        for name in OPTIMIZERS:
            rows.append(f"| {graph} | {task} ({loss_rows} rows) | {name} | {ms[name]:.2f} | "
                        f"{ms[name] / ms['adam']:.3f} | {memory[name]:.1f} |")
        ratios = {
            "FGSAM/SAM": (ms["fgsam"] / ms["sam"], 0.55),
            "FGSAM+ k=2 / Adam": (ms["fgsam+ k=2"] / ms["adam"], 0.6),
            "FGSAM+ k=5 / Adam": (ms["fgsam+ k=5"] / ms["adam"], 0.35),
            "PeerMLP step / GNN step": (ms["peermlp"] / ms["adam"], 0.1),
        }
        for what, (value, target) in ratios.items():
            targeted = graph in ("corafull", "arxiv") and task == "episode"
            verdict = ("meets" if value <= target else "MISSES") if targeted else "(no target)"
            checks.append(f"| {graph} | {task} | {what} | {value:.3f} | <= {target} {verdict} |")
        print(f"done: {graph} {task}", file=sys.stderr, flush=True)
    del data

print(f"command: python benchmarks/step_cost.py {' '.join(sys.argv[1:])}".rstrip())
print(f"machine: {machine_description(device)}")
print(f"rounds: {rounds} x {args.steps} steps per contender, interleaved; medians of "
      f"{'process CPU' if args.clock == 'cpu' else 'wall-clock'} time per step\n")
print("| graph | task | optimizer | ms / step | ratio to adam | peak memory (MiB) |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
print("\n| graph | task | ratio | measured | target |")
print("|---|---|---|---|---|")
print("\n".join(checks))
