"""Few-shot node classification table: accuracy ± 95% CI, the paired difference from Adam and
CPU seconds per 200 episodes, per setting and method.

A thin caller of ``fgsam fsnc --settings ... --method ...`` (fgsam/fewshot/sweep.py), which
runs every (setting, method) cell as one comparison (FSNC protocol of docs/protocols.md: up to
1000 episodes, 500 for MetaGNN, validation every 10 episodes on 20 tasks, patience 10, 100 test
tasks, 5 repeats, every optimizer on identical tasks and initial weights, interleaved), keeps
the finished cells in one JSON and resumes from it.

    python benchmarks/fsnc_table.py --root $FGSAM_DATA                 # the full table (long)
    python benchmarks/fsnc_table.py --root $FGSAM_DATA --quick         # smoke run, a minute
    python benchmarks/fsnc_table.py --results fsnc.json --report-only  # tables from saved cells
    python benchmarks/fsnc_table.py --root $FGSAM_DATA --step-time     # step-time ratios only
    python benchmarks/fsnc_table.py --results fsnc.json --report-only --control fgsam-rho0

``--control NAME`` adds a table of every optimizer's paired difference from that optimizer of
the same cells (``fgsam-rho0``: joint GNN + PeerMLP training, no perturbation; what FGSAM's
perturbation adds beyond it).

``--step-time`` measures the training step alone (forward + backward + optimizer step on
sampled training tasks), interleaved over the optimizers in rounds and compared by medians
(fgsam.bench.interleaved_medians): the cleanest speed comparison on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from fgsam.bench import interleaved_medians, machine_description
from fgsam.cli import main
from fgsam.data import load_graph
from fgsam.fewshot.features import FEATURE_NORMALIZATIONS, normalize_features
from fgsam.fewshot.method_registry import create_method
from fgsam.fewshot.sampler import EpisodeSampler
from fgsam.fewshot.sweep import parse_settings, sweep_controls, sweep_markdown
from fgsam.optim import create_optimizer, training_step

#: Wiki's 5-way tasks keep K + Q = 11: only 5 of its 12 non-evaluation classes have more than
#: 11 nodes, so 10 queries would leave too few training classes.
SETTINGS = "cora:2:3:10,citeseer:2:3:10,wiki:5:1:10,wiki:5:3:8,wiki:5:5:6"
METHODS = "gpn,protonet,metagnn"
OPTIMIZERS = "adam,sam,fgsam,fgsam+"
QUICK = ["--episodes", "20", "--repeats", "1", "--test-tasks", "10", "--val-tasks", "5"]

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--results", default=None,
                    help="the sweep JSON, read and appended to (default: "
                         "benchmarks/fsnc_sweep.json, or fsnc_sweep_quick.json with --quick)")
parser.add_argument("--markdown", default=None, help="also write the tables to this file")
parser.add_argument("--plot", default=None, help="accuracy against CPU time, a PNG")
parser.add_argument("--settings", default=None,
                    help="comma list of DATASET:N:K[:Q] such as cora:2:3,wiki:5:3:8 "
                         "(default: all five; Q defaults to 10)")
parser.add_argument("--methods", default=METHODS)
parser.add_argument("--optimizers", default=OPTIMIZERS)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--test-tasks", type=int, default=100)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--features", choices=FEATURE_NORMALIZATIONS, default="l2",
                    help="feature scaling, as fgsam fsnc --features (default: l2)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--quick", action="store_true",
                    help="smoke run: Cora only, 20 episodes, 1 repeat, 10 test tasks")
parser.add_argument("--report-only", action="store_true", help="print the tables, train nothing")
parser.add_argument("--progress", action="store_true", help="progress bars for every run")
parser.add_argument("--control", default=None,
                    help="also print each optimizer's paired difference from this one")
parser.add_argument("--step-time", action="store_true",
                    help="only time training steps, interleaved, medians (no accuracy)")
parser.add_argument("--rounds", type=int, default=9, help="--step-time rounds")
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="--step-time clock; cpu: process CPU time (CPU device only; use with "
                         "--threads 1)")
parser.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (1 is fastest for these small graphs on a busy box)")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

here = Path(__file__).resolve().parent
results_path = Path(args.results or here / ("fsnc_sweep_quick.json" if args.quick
                                            else "fsnc_sweep.json"))
settings_text = args.settings or (SETTINGS.split(",")[0] if args.quick else SETTINGS)
settings = [(s.dataset, s.n_way, s.k_shot, s.q_query) for s in parse_settings(settings_text)]
methods = [m.strip() for m in args.methods.split(",") if m.strip()]
optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]


def step_times() -> None:
    print(f"command: python benchmarks/fsnc_table.py {' '.join(sys.argv[1:])}")
    print(f"machine: {machine_description(args.device)}")
    print(f"clock: {'process CPU' if args.clock == 'cpu' else 'wall-clock'} time, "
          f"{args.rounds} interleaved rounds, medians")
    for dataset, n, k, q in settings:
        data, split = load_graph(dataset, args.root)
        data = normalize_features(data, args.features).to(args.device)
        print(f"\n**{dataset} {n}-way {k}-shot, {q} queries**: median ms per training step "
              f"(ratio to {optimizers[0]})\n")
        print("| method | " + " | ".join(optimizers) + " |")
        print("|---|" + "---|" * len(optimizers))
        for method in methods:
            steps = {}
            for opt_name in optimizers:
                model = create_method(method, data.num_features, int(data.y.max()) + 1, n)
                model.reset_parameters(args.seed)
                model = model.to(args.device).train()
                opt = create_optimizer(model, opt_name, lr=5e-3, weight_decay=5e-4)
                tasks = EpisodeSampler(data.y, split.feasible(data.y, k + q)[0].train, n, k, q,
                                       generator=args.seed)

                def step(model=model, opt=opt, tasks=tasks, data=data) -> None:
                    task = tasks.sample()
                    training_step(opt, lambda: model.loss(data, task),
                                  lambda: model.loss(data, task, peer=True))

                steps[opt_name] = step
            per = 2 if method == "metagnn" else 10
            timing = interleaved_medians(steps, rounds=args.rounds, steps_per_round=per,
                                         device=args.device, clock=args.clock)
            base = timing[optimizers[0]].median
            cells = [f"{t.median * 1e3:.1f} ({t.median / base:.2f}×)" for t in timing.values()]
            print(f"| {method} | " + " | ".join(cells) + " |", flush=True)


if args.step_time:
    step_times()
    sys.exit(0)

def controls(store: dict) -> None:
    if args.control is not None:
        print(f"\nPaired differences from {args.control} on the same tasks:\n")
        print(sweep_controls(store, args.control))


if args.report_only:
    store = json.loads(results_path.read_text())
    print(sweep_markdown(store, parse_settings(settings_text), methods))
    controls(store)
    sys.exit(0)
command = ["fsnc", "--settings", settings_text, "--method", ",".join(methods), "--optimizer",
           ",".join(optimizers), "--repeats", str(args.repeats), "--test-tasks",
           str(args.test_tasks), "--seed", str(args.seed), "--features", args.features,
           "--device", args.device, "--out", str(results_path), *(QUICK if args.quick else [])]
for flag, value in (("--root", args.root), ("--markdown", args.markdown), ("--plot", args.plot),
                    ("--threads", args.threads)):
    if value is not None:
        command += [flag, str(value)]
if not args.progress:
    command.append("--quiet")
print("fgsam " + " ".join(command), flush=True)
status = main(command)
if args.control is not None:
    controls(json.loads(results_path.read_text()))
sys.exit(status)
