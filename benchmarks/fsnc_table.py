"""Few-shot node classification table: accuracy ± 95% CI and seconds per 200 episodes.

Cora 2-way 3-shot, CiteSeer 2-way 3-shot and Wiki 5-way {1, 3, 5}-shot, for GPN, ProtoNet and
MetaGNN trained with Adam, SAM, FGSAM and FGSAM+ (FSNC protocol of docs/protocols.md: up to 1000
episodes, 500 for MetaGNN, validation every 10 episodes on 20 tasks, patience 10, 100 test tasks,
5 repeats). All optimizers of one (setting, method) cell run in the same process with their
repeats interleaved (repeat r of every optimizer, then repeat r + 1), on identical tasks and
initial weights. Results are appended to a JSON file after every cell, and cells already there
are skipped, so an interrupted run resumes where it stopped.

    python benchmarks/fsnc_table.py --root $FGSAM_DATA                 # the full table (long)
    python benchmarks/fsnc_table.py --root $FGSAM_DATA --quick         # smoke run, a minute
    python benchmarks/fsnc_table.py --results fsnc.json --report-only  # tables from saved cells
    python benchmarks/fsnc_table.py --root $FGSAM_DATA --step-time     # step-time ratios only

``--step-time`` measures the training step alone (forward + backward + optimizer step on
sampled training tasks), interleaved over the optimizers in rounds and compared by medians
(fgsam.bench.interleaved_medians): the cleanest speed comparison on a busy machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import torch

from fgsam.bench import interleaved_medians, machine_description
from fgsam.data import load_graph
from fgsam.fewshot.features import FEATURE_NORMALIZATIONS, normalize_features
from fgsam.fewshot.method_registry import create_method, default_episodes
from fgsam.fewshot.results import FSNCResult, write_json
from fgsam.fewshot.sampler import EpisodeSampler
from fgsam.fewshot.trainer import EpisodicTrainer
from fgsam.optim import create_optimizer, training_step

#: (dataset, N, K, Q). Wiki's 5-way tasks keep K + Q = 11: only 5 of its 12 non-evaluation
#: classes have more than 11 nodes, so 10 queries would leave too few training classes.
SETTINGS = [("cora", 2, 3, 10), ("citeseer", 2, 3, 10), ("wiki", 5, 1, 10), ("wiki", 5, 3, 8),
            ("wiki", 5, 5, 6)]
METHODS = ["gpn", "protonet", "metagnn"]
OPTIMIZERS = ["adam", "sam", "fgsam", "fgsam+"]
QUICK = {"episodes": 20, "repeats": 1, "test_tasks": 10, "val_tasks": 5}

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--results", default=None,
                    help="JSON of finished cells, read and appended to (default: "
                         "benchmarks/fsnc_table.json, or fsnc_table_quick.json with --quick)")
parser.add_argument("--markdown", default=None, help="also write the tables to this file")
parser.add_argument("--settings", default=None,
                    help="comma list of DATASET:N:K[:Q] such as cora:2:3,wiki:5:3:8 "
                         "(default: all five; Q defaults to 10)")
parser.add_argument("--methods", default=",".join(METHODS))
parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--test-tasks", type=int, default=100)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--features", choices=FEATURE_NORMALIZATIONS, default="l2",
                    help="feature scaling, as fgsam fsnc --features (default: l2)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--quick", action="store_true",
                    help="smoke run: Cora only, 20 episodes, 1 repeat, 10 test tasks")
parser.add_argument("--report-only", action="store_true", help="print the tables, train nothing")
parser.add_argument("--progress", action="store_true", help="tqdm bars for every run")
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
results_path = Path(args.results or here / ("fsnc_table_quick.json" if args.quick
                                            else "fsnc_table.json"))
if args.settings:
    settings = [(p[0], int(p[1]), int(p[2]), int(p[3]) if len(p) > 3 else 10)
                for p in (s.split(":") for s in args.settings.split(","))]
else:
    settings = SETTINGS[:1] if args.quick else SETTINGS
methods = [m.strip() for m in args.methods.split(",") if m.strip()]
optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
store: dict = json.loads(results_path.read_text()) if results_path.is_file() else {}
store.setdefault("cells", {})
session = f"{datetime.datetime.now().isoformat(timespec='seconds')} pid {os.getpid()}"


def cell_key(dataset: str, n: int, k: int, q: int, method: str) -> str:
    return f"{dataset} {n}-way {k}-shot {q}-query / {method}" + (" (quick)" if args.quick else "")


def run_cell(dataset: str, n: int, k: int, q: int, method: str) -> dict:
    data, split = load_graph(dataset, args.root)
    data = normalize_features(data, args.features).to(args.device)
    classes = int(data.y.max()) + 1
    extra = QUICK if args.quick else {"episodes": default_episodes(method),
                                      "repeats": args.repeats, "test_tasks": args.test_tasks}
    trainers = {
        opt: EpisodicTrainer(
            lambda: create_method(method, data.num_features, classes, n), data, split,
            n_way=n, k_shot=k, q_query=q, optimizer=opt,
            seed=args.seed, progress=args.progress,
            **extra)
        for opt in optimizers
    }
    runs: dict[str, list] = {opt: [] for opt in optimizers}
    for r in range(extra["repeats"]):  # interleaved: drifts of the machine hit every optimizer
        for opt, trainer in trainers.items():
            runs[opt].append(trainer.run_repeat(r))
            print(f"  {opt:7s} repeat {r + 1}: {100 * runs[opt][-1].mean:.2f}%", flush=True)
    out = {}
    for opt, trainer in trainers.items():
        result = FSNCResult(runs[opt], trainer.config())
        summary = result.to_dict()
        out[opt] = {"accuracy": summary["accuracy"],
                    "seconds_per_200_episodes": summary["seconds_per_200_episodes"],
                    "episodes_trained": summary["episodes_trained"],
                    "best_episodes": [r.best_episode for r in result.repeats],
                    "config": summary["config"]}
    return {"results": out, "session": session, "machine": machine_description(args.device),
            "features": args.features,
            "command": "python benchmarks/fsnc_table.py " + " ".join(sys.argv[1:])}


def tables() -> str:
    commands = sorted({c.get("command", "") for c in store["cells"].values()} - {""})
    lines = [f"command: {c}" for c in commands] + [""]
    for dataset, n, k, q in settings:
        cells = {m: store["cells"].get(cell_key(dataset, n, k, q, m)) for m in methods}
        if not any(cells.values()):
            continue
        done = [c for c in cells.values() if c]
        lines += [f"**{dataset} {n}-way {k}-shot, {q} queries** ({done[0]['machine']})", ""]
        head = "| optimizer | " + " | ".join(f"{m} acc (%) | {m} s/200 ep" for m in methods) + " |"
        lines += [head, "|---|" + "---|---|" * len(methods)]
        for opt in optimizers:
            row = [opt]
            for m in methods:
                res = (cells[m] or {}).get("results", {}).get(opt)
                if res is None:
                    row += ["–", "–"]
                    continue
                base = cells[m]["results"].get(optimizers[0])
                secs = res["seconds_per_200_episodes"]
                ratio = (f" ({secs / base['seconds_per_200_episodes']:.2f}×)"
                         if base and opt != optimizers[0] else "")
                acc = res["accuracy"]
                row += [f"{acc['mean']:.2f} ± {acc['ci95']:.2f}",
                        f"{secs:.2f}{ratio}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines.append("Accuracy: mean ± 95% CI over all test tasks of all repeats; time: training "
                 "seconds (forward + backward + step) per 200 episodes, ratio to "
                 f"{optimizers[0]} in parentheses.")
    return "\n".join(lines)


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
if not args.report_only:
    for dataset, n, k, q in settings:
        for method in methods:
            key = cell_key(dataset, n, k, q, method)
            if key in store["cells"] and set(optimizers) <= set(store["cells"][key]["results"]):
                print(f"{key}: done, skipped")
                continue
            print(f"{key}:", flush=True)
            store["cells"][key] = run_cell(dataset, n, k, q, method)
            write_json(results_path, store)  # after every cell: an interrupted run resumes here
report = tables()
print()
print(report)
if args.markdown:
    Path(args.markdown).write_text(report + "\n", encoding="utf-8")
