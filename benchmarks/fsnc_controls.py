"""What the perturbation adds beyond joint training: paired differences against a control.

Reads the JSON of ``fgsam fsnc --settings ...`` sweeps and, for every cell, compares each
listed optimizer with the control (default ``fgsam-rho0``: GNN + PeerMLP trained jointly,
no perturbation) on the tasks both saw: the mean per-task difference in percentage points with
the two-stage bootstrap 95% interval (repeats, then tasks) and the Wilcoxon p of
``fgsam._paired.paired_difference``, the same statistics as the sweep's Δ-vs-first column.

    python benchmarks/fsnc_controls.py proto.json tent.json --markdown controls.md
"""

from __future__ import annotations

import argparse
import json

from fgsam._paired import interval_cell, paired_difference

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("sweeps", nargs="+", help="sweep JSON files (fgsam fsnc --settings --out)")
parser.add_argument("--control", default="fgsam-rho0", help="the optimizer compared against")
parser.add_argument("--optimizers", default="fgsam,fgsam+,sam-peer-ascent",
                    help="comma-separated optimizers to compare with the control")
parser.add_argument("--markdown", default=None, help="also write the table to this file")
args = parser.parse_args()

names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
lines = [f"| cell | {args.control} acc (%) | " + " | ".join(f"{n} − {args.control}" for n in names)
         + " |", "|---|---|" + "---|" * len(names)]
for path in args.sweeps:
    with open(path, encoding="utf-8") as f:
        store = json.load(f)
    for key, cell in store.get("cells", {}).items():
        results = cell.get("results", {})
        control = results.get(args.control)
        if control is None or control["accuracy"]["mean"] is None:
            continue
        base = [rep["test_accs"] for rep in control["repeats"]]
        row = [key, f"{control['accuracy']['mean']:.2f}"]
        for name in names:
            other = results.get(name)
            if other is None or other["accuracy"]["mean"] is None:
                row.append("–")
                continue
            d = paired_difference(base, [rep["test_accs"] for rep in other["repeats"]])
            row.append(interval_cell(100 * d.mean, 100 * d.low, 100 * d.high, d.p_value, 1))
        lines.append("| " + " | ".join(row) + " |")
text = "\n".join(lines)
print(text)
if args.markdown is not None:
    with open(args.markdown, "w", encoding="utf-8") as f:
        f.write(text + "\n")
