"""fgsam's SAM against a minimal reference SAM written here, on the same model and base Adam.

The reference is the well-known two-step rule of davda54/sam (Foret et al., ICLR 2021),
written from the rule in a dozen lines: ``first_step`` saves ``w`` and moves to
``w + rho g / (||g|| + 1e-12)``, ``||g||`` the global 2-norm of the gradients;
``second_step`` restores ``w`` and takes the base optimizer's step with the gradient
found there. fgsam's ``SAM`` comes from ``fgsam.optim.create_optimizer(model, "sam", ...)``
and steps through ``fgsam.optim.training_step``. Both start from the same weights, with
the same base Adam (lr 0.01, weight decay 5e-4) and rho.

First a check: ``--check-steps`` (5) steps of each from the same weights, then the largest
absolute difference of the weights. Then the steps of Adam, fgsam's SAM and the reference
timed in one process in interleaved rounds, compared by medians and by the median of the
per-round ratios.

Models (``--model``): ``gcn``, a PyG 2-layer ``GCN`` (hidden 16, no dropout) on real Cora,
cross-entropy on Planetoid's 20 training nodes per class; ``mlp``, an MLP of ``--layers``
(50) linear layers, 100 parameter tensors, on Cora's features (where SAM's own per-tensor
work weighs most).

    python benchmarks/sam_reference.py --root $FGSAM_DATA
    python benchmarks/sam_reference.py --root $FGSAM_DATA --threads 1 --clock cpu  # shared CPU
    python benchmarks/sam_reference.py --root $FGSAM_DATA --model mlp --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCN

from fgsam.bench import (
    add_timing_arguments,
    bench_graph,
    interleaved_medians,
    timing_device,
    timing_header,
)
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--model", choices=["gcn", "mlp"], default="gcn")
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--layers", type=int, default=50, help="linear layers of --model mlp")
parser.add_argument("--rho", type=float, default=0.05)
parser.add_argument("--check-steps", type=int, default=5)
add_timing_arguments(parser, rounds=21, steps=10)
args = parser.parse_args()
device = timing_device(args)


class ReferenceSAM:
    """SAM's two steps as davda54/sam takes them, around a base optimizer of ``params``."""

    def __init__(self, params, base: torch.optim.Optimizer, rho: float) -> None:
        self.params, self.base, self.rho, self.saved = list(params), base, rho, {}

    @torch.no_grad()
    def first_step(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        scale = self.rho / (torch.stack([g.norm(2) for g in grads]).norm(2) + 1e-12)
        for p in self.params:
            if p.grad is not None:
                self.saved[p] = p.clone()
                p.add_(p.grad * scale)  # e_w = rho g / (||g|| + 1e-12)

    @torch.no_grad()
    def second_step(self) -> None:
        for p, w in self.saved.items():
            p.copy_(w)  # back to w, then the base step with the gradient at w + e_w
        self.base.step()


data, train = bench_graph("cora", None, args.root)
data, train = data.to(device), train.to(device)
x, edge_index, y = data.x, data.edge_index, data.y
classes = int(y.max()) + 1
with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
    torch.manual_seed(0)
    if args.model == "gcn":
        initial = GCN(data.num_features, args.hidden, 2, classes)
    else:
        sizes = [data.num_features] + [args.hidden] * (args.layers - 1) + [classes]
        initial = nn.Sequential(*(m for a, b in itertools.pairwise(sizes)
                                  for m in (nn.Linear(a, b), nn.ReLU())))[:-1]
initial = initial.to(device)
forward = ((lambda m: m(x, edge_index)) if args.model == "gcn" else (lambda m: m(x)))
base_options = {"lr": 0.01, "weight_decay": 5e-4}


def contenders() -> tuple[dict, dict]:
    """Fresh models from ``initial`` and one step function per contender."""
    models = {name: copy.deepcopy(initial) for name in ("adam", "fgsam sam", "reference sam")}

    def loss_of(model):
        return lambda: F.cross_entropy(forward(model)[train], y[train])

    adam = torch.optim.Adam(models["adam"].parameters(), **base_options)
    sam = create_optimizer(models["fgsam sam"], "sam", rho=args.rho, **base_options)
    ref_model = models["reference sam"]
    ref = ReferenceSAM(ref_model.parameters(), torch.optim.Adam(ref_model.parameters(),
                                                                **base_options), args.rho)

    def reference_step():
        ref.base.zero_grad(set_to_none=True)
        loss = loss_of(ref_model)()
        loss.backward()
        ref.first_step()
        ref.base.zero_grad(set_to_none=True)
        loss_of(ref_model)().backward()
        ref.second_step()
        return loss

    steps = {"adam": lambda: training_step(adam, loss_of(models["adam"])),
             "fgsam sam": lambda: training_step(sam, loss_of(models["fgsam sam"])),
             "reference sam": reference_step}
    return models, steps


models, steps = contenders()
for _ in range(args.check_steps):
    steps["fgsam sam"]()
    steps["reference sam"]()
difference = max((a - b).abs().max().item() for a, b in zip(
    models["fgsam sam"].parameters(), models["reference sam"].parameters(), strict=True))
tensors = sum(1 for _ in initial.parameters())

models, steps = contenders()
timings = interleaved_medians(steps, rounds=args.rounds, steps_per_round=args.steps,
                              device=device, clock=args.clock)
print(timing_header(args, f"model: {args.model} on Cora ({tensors} parameter tensors), base "
                          f"Adam, rho {args.rho}"))
print(f"weights after {args.check_steps} steps from the same start: max abs difference "
      f"fgsam sam - reference sam = {difference:.3e}\n")
print("| optimizer | median ms / step | ratio to adam | median of per-round ratios to adam | "
      "median of per-round ratios to reference |")
print("|---|---|---|---|---|")
for name, timing in timings.items():
    print(f"| {name} | {timing.median * 1e3:.3f} | "
          f"{timing.median / timings['adam'].median:.3f} | "
          f"{timing.paired_ratio(timings['adam']):.3f} | "
          f"{timing.paired_ratio(timings['reference sam']):.3f} |")
