"""Sharpness of GPN trained on Wiki (5-way 3-shot) with Adam, SAM, FGSAM and FGSAM+, next to
its test accuracy.

For every seed, each optimizer trains GPN with the FSNC protocol of docs/protocols.md (up to 1000
episodes, validation on 20 tasks every 10, patience 10, the best validated model tested on 100
tasks); every optimizer of a seed starts from the same weights and sees the same tasks. The
tested model is then measured on the same fixed training tasks (the first ``--tasks`` the
training sampler drew, identical for every optimizer of a seed), in evaluation mode: the mean
training loss L(w), the top Hessian eigenvalue (Lanczos), the Hutchinson trace, and the
worst-case (gradient ascent, ``||δ|| <= ρ``) and average-case (``δ ~ N(0, ρ²I)``)
ρ-sharpness, all with the same random vectors for every optimizer of a seed.

Wiki has 5-way tasks only with K + Q <= 11, so 3-shot tasks have 8 queries per class. Its
features are raw TF-IDF values (up to 1663.7); ``--features`` rescales them as ``fgsam fsnc
--features`` does (default ``l2``: unit-norm rows; see ``fgsam.fewshot.features``).

One cell (optimizer, seed) is appended to a JSON file as soon as it is done, and cells
already there are skipped, so an interrupted run resumes where it stopped.

    python benchmarks/sharpness_table.py --root $FGSAM_DATA             # the table (long)
    python benchmarks/sharpness_table.py --root $FGSAM_DATA --quick     # smoke run
    python benchmarks/sharpness_table.py --report-only                  # table from saved cells
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from fgsam.bench import machine_description
from fgsam.data import load_graph
from fgsam.fewshot.features import FEATURE_NORMALIZATIONS, normalize_features
from fgsam.fewshot.method_registry import create_method
from fgsam.fewshot.results import mean_and_ci95, write_json
from fgsam.fewshot.trainer import EpisodicTrainer
from fgsam.optim import optimizer_arguments
from fgsam.sharpness import hessian_eigenvalues, hessian_trace, rho_sharpness
from fgsam.sharpness.checkpoint_loss import episodic_loss

OPTIMIZERS = ["adam", "sam", "fgsam", "fgsam+"]
QUICK = {"episodes": 20, "val_tasks": 5, "test_tasks": 10, "seeds": 1, "tasks": 4,
         "trace_samples": 10, "noise_samples": 10, "ascent_steps": 5}

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--results", default=None,
                    help="JSON of finished cells, read and appended to (default: "
                         "benchmarks/sharpness_table.json, or sharpness_table_quick.json with "
                         "--quick)")
parser.add_argument("--markdown", default=None, help="also write the table to this file")
parser.add_argument("--dataset", default="wiki")
parser.add_argument("--method", default="gpn")
parser.add_argument("--way", type=int, default=5)
parser.add_argument("--shot", type=int, default=3)
parser.add_argument("--query", type=int, default=8)
parser.add_argument("--features", choices=FEATURE_NORMALIZATIONS, default="l2",
                    help="feature scaling, as fgsam fsnc --features (default: l2)")
parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (one repeat each)")
parser.add_argument("--episodes", type=int, default=1000)
parser.add_argument("--val-tasks", type=int, default=20)
parser.add_argument("--test-tasks", type=int, default=100)
parser.add_argument("--tasks", type=int, default=20, help="training tasks the loss averages")
parser.add_argument("--rho", type=float, default=0.05)
parser.add_argument("--trace-samples", type=int, default=100)
parser.add_argument("--noise-samples", type=int, default=100)
parser.add_argument("--ascent-steps", type=int, default=20)
parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--quick", action="store_true",
                    help="smoke run: 1 seed, 20 episodes, 4 tasks, few probe vectors")
parser.add_argument("--report-only", action="store_true", help="print the table, train nothing")
parser.add_argument("--progress", action="store_true", help="tqdm bars while training")
args = parser.parse_args()
if args.quick:
    for key, value in QUICK.items():
        setattr(args, key, value)
if args.threads:
    torch.set_num_threads(args.threads)

here = Path(__file__).resolve().parent
results_path = Path(args.results or here / ("sharpness_table_quick.json" if args.quick
                                            else "sharpness_table.json"))
optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
store: dict = json.loads(results_path.read_text()) if results_path.is_file() else {}
store.setdefault("cells", {})
session = f"{datetime.datetime.now().isoformat(timespec='seconds')} pid {os.getpid()}"
setting = (f"{args.method} {args.dataset} {args.way}-way {args.shot}-shot {args.query}-query, "
           f"{args.features} features, {args.episodes} episodes, {args.tasks} tasks, "
           f"rho {args.rho:g}, {args.trace_samples}/{args.noise_samples}/{args.ascent_steps} "
           f"trace/noise/ascent")


def cell_key(optimizer: str, seed: int) -> str:
    return f"{setting} / {optimizer} / seed {seed}"


def load_data():
    data, split = load_graph(args.dataset, args.root)
    return normalize_features(data, args.features).to(args.device), split


def run_cell(data, split, optimizer: str, seed: int) -> dict:
    classes = int(data.y.max()) + 1
    trainer = EpisodicTrainer(
        lambda: create_method(args.method, data.num_features, classes, args.way), data, split,
        n_way=args.way, k_shot=args.shot, q_query=args.query, optimizer=optimizer,
        opt_kwargs=optimizer_arguments(optimizer, total_steps=args.episodes),
        episodes=args.episodes,
        val_tasks=args.val_tasks, test_tasks=args.test_tasks, repeats=1, seed=seed,
        progress=args.progress)
    result = trainer.run()
    repeat = result.repeats[0]
    method = trainer.last_method
    finite = all(bool(torch.isfinite(p).all()) for p in method.parameters())
    cell = {"test_accs": repeat.test_accs, "accuracy": 100 * repeat.mean,
            "episodes": repeat.episodes, "best_episode": repeat.best_episode,
            "train_seconds": repeat.train_seconds, "finite_weights": finite,
            "opt_kwargs": trainer.opt_kwargs, "session": session,
            "machine": machine_description(args.device)}
    if not finite:  # nothing to measure: record the failure, do not hide it
        return cell
    loss = episodic_loss(method, data, trainer.sampler("train", repeat.seeds["train"]),
                         args.tasks)
    start = time.perf_counter()
    with torch.no_grad():
        cell["train_loss"] = float(loss())
    cell["lambda_max"] = float(hessian_eigenvalues(loss, loss.params, 1, "lanczos",
                                                   generator=seed)[0])
    trace = hessian_trace(loss, loss.params, args.trace_samples, generator=seed)
    cell["trace"], cell["trace_stderr"] = trace.value, trace.stderr
    worst = rho_sharpness(loss, loss.params, args.rho, "worst", steps=args.ascent_steps,
                          generator=seed)
    average = rho_sharpness(loss, loss.params, args.rho, "average",
                            samples=args.noise_samples, generator=seed)
    cell["worst"] = worst.value
    cell["average"], cell["average_stderr"] = average.value, average.stderr
    cell["measure_seconds"] = time.perf_counter() - start
    return cell


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g}"


def table() -> str:
    seeds = range(args.seeds)
    lines = [f"command: python benchmarks/sharpness_table.py {' '.join(sys.argv[1:])}",
             f"setting: {setting}", ""]
    machines = {c["machine"] for o in optimizers for s in seeds
                if (c := store["cells"].get(cell_key(o, s)))}
    lines += [f"machine: {'; '.join(sorted(machines)) or '–'}", ""]
    lines += ["| optimizer | seeds | test acc (%) ± 95% CI | train loss | λ_max | trace | "
              f"worst {args.rho:g}-sharpness | average {args.rho:g}-sharpness | episodes |",
              "|---|---|---|---|---|---|---|---|---|"]
    for opt in optimizers:
        cells = [c for s in seeds if (c := store["cells"].get(cell_key(opt, s)))]
        if not cells:
            continue
        measured = [c for c in cells if c["finite_weights"]]
        mean, ci = mean_and_ci95([a for c in cells for a in c["test_accs"]])
        col = {k: _mean_std([c[k] for c in measured])
               for k in ("train_loss", "lambda_max", "trace", "worst", "average")}
        nan = len(cells) - len(measured)
        note = f" ({nan} NaN)" if nan else ""
        lines.append(f"| {opt} | {len(cells)}{note} | {100 * mean:.2f} ± {100 * ci:.2f} | "
                     f"{col['train_loss']} | {col['lambda_max']} | {col['trace']} | "
                     f"{col['worst']} | {col['average']} | "
                     f"{_mean_std([c['episodes'] for c in cells])} |")
    lines += ["", "Per seed (test acc % / λ_max / worst sharpness):", "",
              "| seed | " + " | ".join(optimizers) + " |",
              "|---|" + "---|" * len(optimizers)]
    for s in seeds:
        row = []
        for opt in optimizers:
            c = store["cells"].get(cell_key(opt, s))
            if c is None:
                row.append("–")
            elif not c["finite_weights"]:
                row.append(f"{c['accuracy']:.1f} / NaN weights")
            else:
                row.append(f"{c['accuracy']:.1f} / {c['lambda_max']:.3g} / {c['worst']:.3g}")
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    lines += ["", "Accuracy: mean ± 95% CI over all test tasks of all seeds. Sharpness "
              "columns: mean ± std over seeds, measured on the first "
              f"{args.tasks} training tasks of each seed in evaluation mode; trace by "
              f"Hutchinson ({args.trace_samples} probes), worst case by {args.ascent_steps} "
              f"ascent steps (a lower bound), average case over {args.noise_samples} draws."]
    return "\n".join(lines)


if not args.report_only:
    data, split = load_data()
    for seed in range(args.seeds):  # seeds outermost: every optimizer of a seed in a row
        for opt in optimizers:
            key = cell_key(opt, seed)
            if key in store["cells"]:
                print(f"{opt} seed {seed}: done, skipped")
                continue
            start = time.perf_counter()
            store["cells"][key] = cell = run_cell(data, split, opt, seed)
            write_json(results_path, store)  # after every cell: a rerun resumes here
            shown = ("NaN weights" if not cell["finite_weights"] else
                     f"λ_max {cell['lambda_max']:.4g}, worst {cell['worst']:.4g}")
            print(f"{opt} seed {seed}: acc {cell['accuracy']:.2f}%, {shown} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
report = table()
print()
print(report)
if args.markdown:
    Path(args.markdown).write_text(report + "\n", encoding="utf-8")
