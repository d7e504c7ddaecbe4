"""GraphSAM's step time against Adam and SAM on the molecular graph transformer.

The cost model: Adam 1 forward/backward per step, SAM 2, GraphSAM 1 plus 1 per epoch.
Targets: GraphSAM <= 1.15x Adam and <= 0.6x SAM (median ratios). Every contender trains
its own copy of the same model (same initialisation) on the same batches; GraphSAM calls
start_epoch() every epoch's worth of steps, so its per-epoch refresh pass is included.
Runs are interleaved and compared by medians, in one process.

    python benchmarks/mol_step_time.py --root $FGSAM_DATA --dataset ogbg-molbbbp
    python benchmarks/mol_step_time.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch

from fgsam.bench import (
    add_timing_arguments,
    interleaved_medians,
    machine_description,
    timing_device,
)
from fgsam.mol import MoleculeDataset
from fgsam.mol.config import build_optimizer
from fgsam.mol.loss import masked_loss
from fgsam.mol.model import MODELS, build_model
from fgsam.mol.split import MoleculeSplit
from fgsam.optim import SharpnessAwareOptimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--cache-dir", default=None, help="processed-graph cache")
parser.add_argument("--dataset", default="ogbg-molbbbp")
parser.add_argument("--model", default="transformer", choices=list(MODELS))
parser.add_argument("--hidden", type=int, default=None)
parser.add_argument("--layers", type=int, default=None)
parser.add_argument("--heads", type=int, default=None)
parser.add_argument("--batch-size", type=int, default=32)
add_timing_arguments(parser, rounds=21, steps=10)
parser.add_argument("--warmup", type=int, default=3)
args = parser.parse_args()
device = timing_device(args)

dataset = MoleculeDataset(args.dataset, args.root, args.cache_dir)
data = MoleculeSplit.make(dataset)
loader = data.loader("train", args.batch_size, shuffle=True, seed=0)
batches = [b.to(args.device) for b in loader]  # the same batches for every contender
steps_per_epoch = len(batches)


def contender(name: str):
    torch.manual_seed(0)
    model = build_model(args.model, dataset.num_tasks, hidden=args.hidden, layers=args.layers,
                        heads=args.heads).to(args.device)
    opt = build_optimizer(model, name, lr=1e-3)
    stream = itertools.cycle(enumerate(batches))

    def step() -> None:
        i, batch = next(stream)
        if i == 0 and isinstance(opt, SharpnessAwareOptimizer):
            opt.start_epoch()  # GraphSAM's once-per-epoch refresh is part of its cost
        training_step(opt, lambda: masked_loss(model(batch), batch.y, dataset.task_type))

    return step


timings = interleaved_medians({n: contender(n) for n in ("adam", "sam", "graphsam")},
                              rounds=args.rounds, steps_per_round=args.steps,
                              warmup=args.warmup, device=args.device, clock=args.clock)
ms = {n: t.median * 1e3 for n, t in timings.items()}
print(f"command: python benchmarks/mol_step_time.py {' '.join(sys.argv[1:])}")
print(f"machine: {machine_description(args.device)}")
print(f"setting: {args.dataset}, {args.model}, batch {args.batch_size}, "
      f"{steps_per_epoch} steps per epoch, {args.rounds} rounds x {args.steps} steps, "
      f"{'process CPU' if args.clock == 'cpu' else 'wall-clock'} time")
print()
print("| optimizer | median ms / step | ratio to adam | ratio to sam |")
print("|---|---|---|---|")
for name in ("adam", "sam", "graphsam"):
    print(f"| {name} | {ms[name]:.3f} | {ms[name] / ms['adam']:.3f} | "
          f"{ms[name] / ms['sam']:.3f} |")
print()
print(f"GraphSAM/Adam = {ms['graphsam'] / ms['adam']:.3f} (target <= 1.15); "
      f"GraphSAM/SAM = {ms['graphsam'] / ms['sam']:.3f} (target <= 0.6)")
