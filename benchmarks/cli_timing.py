"""Do the time columns of ``fgsam fsnc`` agree with ``fgsam bench`` on the same setting?

For each setting, runs ``fgsam fsnc`` with GPN (a comparison of optimizers, interleaved by
repeat, its CPU-time column: the median over blocks of 10 training steps) and ``fgsam bench
--method gpn`` (the same method and step, in interleaved rounds of 10 steps, medians of
process CPU time), both with one torch thread, and prints
each optimizer's CPU-time ratio to Adam by both and their quotient. ``--load N`` runs N
CPU-bound processes beside them for the whole measurement (a machine that is busy with
other work), so the two columns can be compared idle and under load.

    python benchmarks/cli_timing.py [--root DATA_ROOT] [--load 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

from fgsam.bench import machine_description

#: (name, dataset, way, shot, query): the few-shot settings compared.
SETTINGS = [("citeseer 2-way 3-shot", "citeseer", 2, 3, 10),
            ("wiki 5-way 3-shot", "wiki", 5, 3, 8)]

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--root", default=None, help="data root (default: $FGSAM_DATA or ./datasets)")
parser.add_argument("--optimizers", default="adam,sam,fgsam,fgsam+",
                    help="comma list; ratios are to the first (default: adam,sam,fgsam,fgsam+)")
parser.add_argument("--repeats", type=int, default=2, help="fsnc repeats (default: 2)")
parser.add_argument("--rounds", type=int, default=15, help="bench rounds (default: 15)")
parser.add_argument("--load", type=int, default=0,
                    help="CPU-bound processes running beside the measurement (default: 0)")
parser.add_argument("--settings", default=None,
                    help="comma list of datasets to keep (default: citeseer,wiki)")
parser.add_argument("--quick", action="store_true", help="a smoke run: tiny runs, not a result")


def burn() -> None:  # pragma: no cover - runs in a child process until terminated
    while True:
        pass


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fgsam", *args, "--threads", "1"]


def fsnc_ratios(opts: list[str], setting: tuple, root: list[str], repeats: int,
                quick: bool) -> dict[str, float]:
    _, dataset, way, shot, query = setting
    small = ["--episodes", "20", "--val-tasks", "2", "--test-tasks", "2"] if quick else []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fsnc.json"
        subprocess.run(command("fsnc", "--dataset", dataset, "--method", "gpn", "--optimizer",
                               ",".join(opts), "--way", str(way), "--shot", str(shot),
                               "--query", str(query), "--repeats", str(repeats), "--quiet",
                               "--out", str(out), *small, *root),
                       check=True, stdout=subprocess.DEVNULL)
        results = json.loads(out.read_text())["results"]
    cpu = {o: results[o]["cpu_seconds_per_200_episodes"] for o in opts}
    return {o: cpu[o] / cpu[opts[0]] for o in opts}


def bench_ratios(opts: list[str], setting: tuple, root: list[str], rounds: int,
                 quick: bool) -> dict[str, float]:
    _, dataset, way, shot, query = setting
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run(command("bench", "--dataset", dataset, "--method", "gpn", "--task",
                               "episode", "--way",
                               str(way), "--shot", str(shot), "--query", str(query),
                               "--optimizers", ",".join(opts), "--clock", "cpu", "--rounds",
                               str(3 if quick else rounds), "--out", str(out), *root),
                       check=True, stdout=subprocess.DEVNULL)
        saved = json.loads(out.read_text())
    medians = {r["optimizer"]: r["ms_per_step"] for r in saved["results"]}
    return {o: medians[o] / medians[opts[0]] for o in opts}


def main() -> None:
    args = parser.parse_args()
    opts = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    root = ["--root", args.root] if args.root else []
    keep = None if args.settings is None else set(args.settings.split(","))
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    try:
        print(f"machine: {machine_description()}; {args.load} CPU-bound processes beside; "
              f"fsnc {args.repeats} repeats, bench {args.rounds} rounds\n")
        print("| setting | optimizer | fsnc CPU time vs first | bench CPU time vs first | "
              "fsnc / bench |")
        print("|---|---|---|---|---|")
        for setting in SETTINGS:
            if keep is not None and setting[1] not in keep:
                continue
            fsnc = fsnc_ratios(opts, setting, root, args.repeats, args.quick)
            bench = bench_ratios(opts, setting, root, args.rounds, args.quick)
            for o in opts[1:]:
                print(f"| {setting[0]} | {o} | {fsnc[o]:.3f} | {bench[o]:.3f} | "
                      f"{fsnc[o] / bench[o]:.3f} |", flush=True)
    finally:
        for b in burners:
            b.terminate()


if __name__ == "__main__":
    main()
