"""Accuracy of Adam, SAM and GraphSAM on the MoleculeNet/OGB datasets (mean ± std over seeds).

Each dataset is trained with every optimizer on the same split and the same seeds
(``fgsam mol`` underneath). Results are merged into a JSON file after each dataset, so a
long run can be split: run one dataset at a time, in any order, and print the table of
what is there with --table-only.

    python benchmarks/mol_table.py --root $FGSAM_DATA --json mol_table.json
    python benchmarks/mol_table.py --datasets ogbg-molbbbp --json mol_table.json
    python benchmarks/mol_table.py --table-only --json mol_table.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from fgsam._io import write_json
from fgsam.mol.config import MolConfig
from fgsam.mol.experiment import run_experiment
from fgsam.mol.model import MODELS

DATASETS = ["ogbg-molbbbp", "ogbg-molbace", "ogbg-molclintox", "ogbg-moltox21",
            "ogbg-molsider", "ogbg-molesol", "ogbg-molfreesolv", "ogbg-mollipo"]

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
parser.add_argument("--optimizers", default="adam,sam,graphsam")
parser.add_argument("--json", default="mol_table.json", help="results file (merged into)")
parser.add_argument("--table-only", action="store_true", help="only print the table")
parser.add_argument("--root", default=None)
parser.add_argument("--cache-dir", default=None)
parser.add_argument("--model", default="transformer", choices=list(MODELS))
parser.add_argument("--epochs", type=int, default=50)
# --seeds and --no-progress: the earlier names, as in fgsam mol
parser.add_argument("--repeats", "--seeds", dest="repeats", type=int, default=5,
                    help="runs per optimizer (seeds 0, 1, ...)")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--rho", type=float, default=None)
parser.add_argument("--hidden", type=int, default=None)
parser.add_argument("--layers", type=int, default=None)
parser.add_argument("--heads", type=int, default=None)
parser.add_argument("--dropout", type=float, default=None)
parser.add_argument("--max-molecules", type=int, default=None, help="quick trials only")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                    help="no progress bars")
args = parser.parse_args()

path = Path(args.json)
table = json.loads(path.read_text()) if path.is_file() else {}
optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]

if not args.table_only:
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        config = MolConfig(
            dataset=name, model=args.model, optimizers=optimizers,
            seeds=list(range(args.repeats)), epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, rho=args.rho, hidden=args.hidden, layers=args.layers,
            heads=args.heads, dropout=args.dropout, max_molecules=args.max_molecules,
            root=args.root, cache_dir=args.cache_dir)
        results = run_experiment(config, args.device, progress=not args.quiet)
        entry = table.setdefault(name, {"metric": results["dataset"]["metric"], "runs": {}})
        for opt, summary in results["results"].items():
            entry["runs"][opt] = {"config": results["config"], "environment":
                                  results["environment"], **summary}
        write_json(path, table)  # after every dataset: an interrupted run keeps the others

print(f"command: python benchmarks/mol_table.py {' '.join(sys.argv[1:])}")
ORDER = ["adam", "sam", "graphsam"]
columns = sorted({o for e in table.values() for o in e["runs"]},
                 key=lambda o: (ORDER.index(o) if o in ORDER else len(ORDER), o))
print()
print("| dataset | metric | " + " | ".join(columns) + " | seeds | s/epoch (" +
      ", ".join(columns) + ") |")
print("|---|---|" + "---|" * len(columns) + "---|---|")
for name in [d for d in DATASETS if d in table] + sorted(set(table) - set(DATASETS)):
    entry = table[name]
    arrow = "↓" if entry["metric"] == "rmse" else "↑"
    cells, seeds, seconds = [], set(), []
    for opt in columns:
        run = entry["runs"].get(opt)
        if run is None:
            cells.append("-")
            seconds.append("-")
            continue
        if run["test_mean"] is None:  # some seed diverged: no mean over the survivors
            cells.append("diverged")
        else:
            cells.append(f"{run['test_mean']:.4f} ± {run['test_std']:.4f}")
        seeds.add(len(run["seeds"]))
        seconds.append(f"{run['seconds_per_epoch']:.2f}")
    print(f"| {name} | {entry['metric']} {arrow} | " + " | ".join(cells) +
          f" | {'/'.join(map(str, sorted(seeds)))} | {', '.join(seconds)} |")
