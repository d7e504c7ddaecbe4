"""Peak memory of a training step: zeroth-order against first-order tilted SAM (GCN, Cora).

Zeroth-order tilted SAM (``zo-tsam``) runs forward passes only, under ``no_grad``, so a
step should need the memory of inference; first-order tilted SAM (``tsam``) keeps an
autograd graph per pass. Each contender's step is measured as the peak of tensor memory
above what is held when the step starts (parameters, optimizer state and the data are
held by every contender alike). Plain Adam and a no-grad forward pass (inference) are
the references. Contenders are measured in interleaved rounds in one process and
compared by medians.

Measurement: on CUDA, ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``. On the CPU the allocator's own record is used: every
tensor allocation and free, with its size, from the PyTorch profiler
(``profile_memory=True``), summed in time order (``tracemalloc`` and the RSS do not see
PyTorch's allocations one by one).

    python benchmarks/tsam_memory.py --root $FGSAM_DATA
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCN

from fgsam.bench import machine_description
from fgsam.data.root import data_root
from fgsam.optim import create_optimizer, training_step

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--layers", type=int, default=2)
parser.add_argument("--samples", type=int, default=3, help="perturbations S of both methods")
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--warmup", type=int, default=2, help="unmeasured steps first (state)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = parser.parse_args()
device = torch.device(args.device)

raw = data_root(args.root) / "planetoid" / "Cora"
if not (raw / "raw").is_dir():
    sys.exit(f"Cora's Planetoid files are expected in {raw / 'raw'} (see datasets/README.md)")
with tempfile.TemporaryDirectory() as tmp:  # PyG writes processed/ beside raw/
    shutil.copytree(raw, Path(tmp) / "Cora")
    data = Planetoid(tmp, "Cora")[0].to(device)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    n_classes = int(data.y.max()) + 1
    return GCN(data.num_features, args.hidden, args.layers, n_classes, dropout=0.5).to(device)


def loss_of(model: torch.nn.Module) -> torch.Tensor:
    out = model(data.x, data.edge_index)
    return F.cross_entropy(out[data.train_mask], data.y[data.train_mask])


def tensor_bytes(tensors) -> int:
    seen = {id(t): t for t in tensors if isinstance(t, torch.Tensor)}
    return sum(t.numel() * t.element_size() for t in seen.values())


def persistent_bytes(model: torch.nn.Module, opt: torch.optim.Optimizer | None) -> int:
    """Tensors kept between steps: parameters, gradients, optimizer state, weight copy."""
    tensors = [*model.parameters(), *(p.grad for p in model.parameters())]
    if opt is not None:
        base = getattr(opt, "base_optimizer", opt)
        tensors += [v for state in base.state.values() for v in state.values()]
        tensors += [v for state in opt.state.values() for v in state.values()]
        tensors += list(getattr(opt, "_backup", {}).values())  # the copy kept for restoring w
    return tensor_bytes(tensors)


class CudaPeaks:
    """Peak above the level at the start of each measured step, from the CUDA allocator."""

    def __init__(self) -> None:
        self.peaks: dict[str, list[int]] = {}

    def measure(self, name: str, fn: Callable[[], object]) -> None:
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start
        self.peaks.setdefault(name, []).append(peak)


class CpuPeaks:
    """The same from the CPU allocator's record of every allocation and free.

    Everything runs inside one profiling session, so every block freed was seen when it
    was allocated; each measured step is a ``record_function`` window.
    """

    MARK = "tsam-memory-step:"

    def __init__(self) -> None:
        self.session = profile(activities=[ProfilerActivity.CPU], profile_memory=True)

    def measure(self, name: str, fn: Callable[[], object]) -> None:
        with torch.profiler.record_function(self.MARK + name):
            fn()

    @property
    def peaks(self) -> dict[str, list[int]]:
        events = self.session.profiler.kineto_results.events()
        cpu = torch._C._autograd.DeviceType.CPU
        memory = sorted(
            (e.start_ns(), e.nbytes())
            for e in events
            if e.name() == "[memory]" and e.device_type() == cpu
        )
        times = [t for t, _ in memory]
        levels = list(itertools.accumulate(n for _, n in memory))
        out: dict[str, list[int]] = {}
        for e in events:
            if not e.name().startswith(self.MARK):
                continue
            first = bisect.bisect_left(times, e.start_ns())
            last = bisect.bisect_right(times, e.end_ns())
            start_level = levels[first - 1] if first else 0
            peak = max(levels[first:last], default=start_level) - start_level
            out.setdefault(e.name()[len(self.MARK):], []).append(peak)
        return out


meter = CudaPeaks() if device.type == "cuda" else CpuPeaks()
if isinstance(meter, CpuPeaks):
    meter.session.__enter__()

contenders: dict[str, tuple[str, Callable[[], object], int]] = {}
for name, kwargs, passes in [
    ("adam", {}, "1 fwd + 1 bwd"),
    ("tsam", {"num_samples": args.samples, "generator": 0}, f"{2 * args.samples} fwd + bwd"),
    ("zo-tsam", {"num_samples": args.samples, "generator": 0}, f"{args.samples + 1} fwd"),
]:
    model = make_model()
    opt = create_optimizer(model, name, lr=0.01, weight_decay=5e-4, **kwargs)

    def step(opt=opt, model=model) -> None:
        training_step(opt, lambda: loss_of(model))

    for _ in range(args.warmup):
        step()
    contenders[name] = (passes, step, persistent_bytes(model, opt))
inference_model = make_model()


def inference() -> None:
    with torch.no_grad():
        loss_of(inference_model)


contenders["inference (no-grad forward)"] = ("1 fwd", inference,
                                             persistent_bytes(inference_model, None))
names = list(contenders)
for r in range(args.rounds):
    for name in names[r % len(names):] + names[: r % len(names)]:
        meter.measure(name, contenders[name][1])
if isinstance(meter, CpuPeaks):
    meter.session.__exit__(None, None, None)

transient = {name: statistics.median(values) for name, values in meter.peaks.items()}
total = {name: contenders[name][2] + transient[name] for name in names}
print(f"command: python benchmarks/tsam_memory.py {' '.join(sys.argv[1:])}".rstrip())
print(f"machine: {machine_description(device)}")
print(f"model: GCN({data.num_features}, {args.hidden}, layers={args.layers}, dropout=0.5) on "
      f"Cora, full graph, Adam base; S = {args.samples}; medians of {args.rounds} "
      f"interleaved rounds; the graph data ({tensor_bytes(data.to_dict().values()) / 2**20:.1f}"
      f" MiB) is common to all and not counted")
print()
print("| step | passes | kept between steps (MiB) | step peak above that (MiB) | total (MiB) "
      "| total / tsam |")
print("|---|---|---|---|---|---|")
for name in names:
    kept, peak = contenders[name][2] / 2**20, transient[name] / 2**20
    print(f"| {name} | {contenders[name][0]} | {kept:.2f} | {peak:.2f} | "
          f"{total[name] / 2**20:.2f} | {total[name] / total['tsam']:.3f} |")
