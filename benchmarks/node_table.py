"""The node-classification accuracy table: ``fgsam node`` on real graphs, cell by cell.

Each cell is one ``fgsam node`` command (a graph, a model, full-batch or sampled) comparing
the optimizers on the same seeds; its JSON goes to ``--out-dir/<cell>.json`` and a cell whose
JSON is complete is not run again, so an interrupted table resumes where it stopped. The
table prints test accuracy mean ± std over the seeds per optimizer and the CPU time per
epoch against the first optimizer. Each later optimizer's cell adds its paired difference
from the first on the same seeds (``fgsam._experiment.seed_differences``, the JSON's
``vs_baseline``: mean, 95% bootstrap interval, Wilcoxon p; with 5 seeds p cannot go below
0.0625).

Protocol: full-batch cells train 200 epochs and evaluate every epoch; sampled cells train
``--sampled-epochs`` epochs of ``--batch-size`` seed nodes with fan-out ``--fanout`` and
evaluate (exact layer-wise inference) every ``--eval-every`` epochs. The test accuracy is
read at the best validation epoch. Splits: Planetoid public (Cora, CiteSeer), 20/30 per class
(Shchur et al.; Wiki, BlogCatalog).

    python benchmarks/node_table.py --root $FGSAM_DATA --out-dir runs/node
    python benchmarks/node_table.py --datasets cora --models gcn --modes full --repeats 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from fgsam._experiment import seed_differences
from fgsam._paired import signed

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None)
parser.add_argument("--out-dir", default="runs/node")
parser.add_argument("--datasets", default="cora,citeseer,wiki,blogcatalog")
parser.add_argument("--models", default="gcn,sage")
parser.add_argument("--modes", default="full,sampled")
parser.add_argument("--optimizers", default="adam,sam,fgsam,fgsam+")
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--epochs", type=int, default=200, help="full-batch epochs")
parser.add_argument("--sampled-epochs", type=int, default=50)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--fanout", default="10,10")
parser.add_argument("--eval-every", type=int, default=5, help="sampled cells")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--table-only", action="store_true", help="print the table of what exists")
args = parser.parse_args()
out_dir = Path(args.out_dir)
out_dir.mkdir(parents=True, exist_ok=True)
names = args.optimizers.split(",")


def command(dataset: str, model: str, mode: str, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "fgsam", "node", "--dataset", dataset, "--model", model,
           "--optimizer", args.optimizers, "--repeats", str(args.repeats),
           "--threads", str(args.threads), "--device", "cpu", "--quiet", "--out", str(out)]
    if args.root:
        cmd += ["--root", args.root]
    if mode == "sampled":
        cmd += ["--epochs", str(args.sampled_epochs), "--batch-size", str(args.batch_size),
                f"--fanout={args.fanout}", "--eval-every", str(args.eval_every)]
    else:
        cmd += ["--epochs", str(args.epochs)]
    return cmd


def complete(path: Path) -> dict | None:
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return results if results.get("complete") else None


rows = []
for dataset in args.datasets.split(","):
    for model in args.models.split(","):
        for mode in args.modes.split(","):
            path = out_dir / f"{dataset}-{model}-{mode}.json"
            if complete(path) is None and not args.table_only:
                print(" ".join(command(dataset, model, mode, path)), flush=True)
                subprocess.run(command(dataset, model, mode, path), check=False)
            results = complete(path)
            if results is not None:
                rows.append((dataset, model, mode, results))

head = " | ".join(f"{n} test acc." for n in names)
print(f"\n| graph | model | training | seeds | {head} | CPU s / epoch "
      f"({' / '.join(names)}) |")
print("|---|---|---|---|" + "---|" * len(names) + "---|")
for dataset, model, mode, results in rows:
    cells, cpu = [], []
    paired = seed_differences({n: results["results"][n] for n in names})
    for n in names:
        r = results["results"][n]
        ok = r["test_mean"] is not None
        d = paired.get(n)  # over seeds against the first optimizer, as fgsam node computes it
        delta = (f"; Δ {signed(100 * d.mean, 1)} [{signed(100 * d.low, 1)}, "
                 f"{signed(100 * d.high, 1)}] p={d.p_value:.2f}") if d else ""
        cells.append(f"{100 * r['test_mean']:.1f} ± {100 * r['test_std']:.1f}{delta}" if ok
                     else "diverged")
        cpu.append(r["cpu_seconds_per_epoch"])
    ratios = " / ".join(f"{c / cpu[0]:.2f}" for c in cpu)
    label = "full-batch" if mode == "full" else f"sampled {args.fanout}, batch {args.batch_size}"
    seeds = len(results["results"][names[0]]["seeds"])
    print(f"| {dataset} | {model} | {label} | {seeds} | {' | '.join(cells)} | {cpu[0]:.3f} s; "
          f"{ratios} |")
