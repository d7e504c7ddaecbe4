"""SAM's step time against its base optimizer on a PyG GCN on Cora.

The cost model says SAM costs 2.0x its base optimizer (two forward/backward passes); the
goal is <= 2.05x, i.e. nothing beyond the second pass. Runs are interleaved and compared
by medians, in one process; the per-round ratio (SAM's block over the base optimizer's block
of the same round) is the steadier figure on a machine whose load changes.

    python benchmarks/sam_step_time.py --root $FGSAM_DATA
    python benchmarks/sam_step_time.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
    python benchmarks/sam_step_time.py --root $FGSAM_DATA --breakdown 300  # time of each phase
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN

from fgsam.bench import (
    CLOCKS,
    add_timing_arguments,
    interleaved_medians,
    timing_device,
    timing_header,
)
from fgsam.data.root import data_root
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--base", default="adam", help="base optimizer (default: adam)")
parser.add_argument("--hidden", type=int, default=16)
add_timing_arguments(parser, rounds=21, steps=10)
parser.add_argument("--breakdown", type=int, default=0, metavar="STEPS",
                    help="also time each phase of the steps over STEPS alternating steps")
args = parser.parse_args()
device = timing_device(args)

raw = data_root(args.root) / "planetoid" / "Cora"
if not (raw / "raw").is_dir():
    sys.exit(f"Cora's Planetoid files are expected in {raw / 'raw'} (see datasets/README.md)")
with tempfile.TemporaryDirectory() as tmp:  # PyG writes processed/ beside raw/
    shutil.copytree(raw, Path(tmp) / "Cora")
    data = Planetoid(tmp, "Cora")[0].to(args.device)

contenders, optimizers, closures = {}, {}, {}
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
    optimizers[name], closures[name] = opt, closure

timings = interleaved_medians(contenders, rounds=args.rounds, steps_per_round=args.steps,
                              device=args.device, clock=args.clock)
base_ms = timings[args.base].median * 1e3
sam_ms = timings["sam"].median * 1e3
print(timing_header(args))
print()
print("| optimizer | median ms / step | ratio of medians | median of per-round ratios |")
print("|---|---|---|---|")
print(f"| {args.base} | {base_ms:.3f} | 1.000 | 1.000 |")
paired = timings["sam"].paired_ratio(timings[args.base])
print(f"| sam ({args.base}) | {sam_ms:.3f} | {sam_ms / base_ms:.3f} | {paired:.3f} |")



def breakdown(steps: int) -> None:
    """Time each phase inside the steps, the base optimizer and SAM alternating."""
    clock = CLOCKS[args.clock]
    sam, base = optimizers["sam"], optimizers[args.base]
    current: dict[str, float] = {}  # phase -> time within the SAM step being taken

    def timed(phase: str, fn):
        def wrapper(*a, **k):
            start = clock()
            out = fn(*a, **k)
            current[phase] = current.get(phase, 0.0) + clock() - start
            return out
        return wrapper

    for phase, method in (("passes", "loss_and_grad"), ("ascent", "ascend"),
                          ("finiteness check", "check_finite"), ("restore + update", "descend")):
        setattr(sam, method, timed(phase, getattr(sam, method)))
    rows: dict[str, list[dict[str, float]]] = {args.base: [], "sam": []}
    for _ in range(steps):
        start = clock()
        base.zero_grad(set_to_none=True)
        closures[args.base]().backward()
        middle = clock()
        base.step()
        end = clock()
        rows[args.base].append({"passes": middle - start, "restore + update": end - middle,
                                "step": end - start})
        current.clear()
        start = clock()
        sam.step(closures["sam"])
        rows["sam"].append({**current, "step": clock() - start})

    def median_ms(name: str, phase: str) -> float | None:
        if phase not in rows[name][0]:
            return None  # a phase the base optimizer has not
        return statistics.median(r[phase] for r in rows[name]) * 1e3

    print()
    print(f"Phases, medians over {steps} alternating steps (ms per step):")
    print()
    print(f"| phase | {args.base} | sam |")
    print("|---|---|---|")
    for phase in ("passes", "ascent", "finiteness check", "restore + update", "step"):
        cells = [median_ms(name, phase) for name in (args.base, "sam")]
        print(f"| {phase} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
    own = median_ms("sam", "ascent") + median_ms("sam", "finiteness check")
    ratio = median_ms("sam", "step") / median_ms(args.base, "step")
    print()
    print(f"SAM's own work beyond its passes and one update: {own:.3f} ms per step; "
          f"the phases give {ratio:.3f}x the {args.base} step")

if args.breakdown:
    breakdown(args.breakdown)
