"""SAM's step time against its base optimizer on a PyG GCN on Cora.

The cost model says SAM costs 2.0x its base optimizer (two forward/backward passes); the
goal is <= 2.05x, i.e. nothing beyond the second pass. Runs are interleaved and compared
by medians, in one process; the per-round ratio (SAM's block over the base optimizer's block
of the same round) is the steadier figure on a machine whose load changes.

    python benchmarks/sam_step_time.py --root $FGSAM_DATA
    python benchmarks/sam_step_time.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN

from fgsam.bench import interleaved_medians, machine_description
from fgsam.data.root import data_root
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--base", default="adam", help="base optimizer (default: adam)")
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--rounds", type=int, default=21)
parser.add_argument("--steps", type=int, default=10, help="steps per contender per round")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (CPU device only; use with --threads 1)")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

raw = data_root(args.root) / "planetoid" / "Cora"
if not (raw / "raw").is_dir():
    sys.exit(f"Cora's Planetoid files are expected in {raw / 'raw'} (see datasets/README.md)")
with tempfile.TemporaryDirectory() as tmp:  # PyG writes processed/ beside raw/
    shutil.copytree(raw, Path(tmp) / "Cora")
    data = Planetoid(tmp, "Cora")[0].to(args.device)

contenders = {}
for name in (args.base, "sam"):
    torch.manual_seed(0)
    model = GCN(data.num_features, args.hidden, 2, int(data.y.max()) + 1, dropout=0.5)
    model = model.to(args.device)
    kwargs = {"lr": 0.01, "weight_decay": 5e-4} | ({"base": args.base} if name == "sam" else {})
    opt = create_optimizer(model, name, **kwargs)

    def closure(model=model):
        out = model(data.x, data.edge_index)
        return F.cross_entropy(out[data.train_mask], data.y[data.train_mask])

    contenders[name] = lambda opt=opt, closure=closure: training_step(opt, closure)

timings = interleaved_medians(contenders, rounds=args.rounds, steps_per_round=args.steps,
                              device=args.device, clock=args.clock)
base_ms = timings[args.base].median * 1e3
sam_ms = timings["sam"].median * 1e3
print(f"command: python benchmarks/sam_step_time.py {' '.join(sys.argv[1:])}")
print(f"machine: {machine_description(args.device)}")
print(f"{args.rounds} rounds x {args.steps} steps, interleaved; medians of "
      f"{'process CPU' if args.clock == 'cpu' else 'wall-clock'} time per step")
print()
print("| optimizer | median ms / step | ratio of medians | median of per-round ratios |")
print("|---|---|---|---|")
print(f"| {args.base} | {base_ms:.3f} | 1.000 | 1.000 |")
paired = timings["sam"].paired_ratio(timings[args.base])
print(f"| sam ({args.base}) | {sam_ms:.3f} | {sam_ms / base_ms:.3f} | {paired:.3f} |")
