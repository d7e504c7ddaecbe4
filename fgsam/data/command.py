"""``fgsam datasets``: the catalog, and which datasets are present under the data root."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from fgsam.data.catalog import CATALOG, KINDS, dataset_info
from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.files import file_status, locate
from fgsam.data.root import ENV_VAR, data_root

HEADER = ("name", "kind", "size", "class split", "local files")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam datasets``."""
    parser = subparsers.add_parser(
        "datasets", help="list the dataset catalog and what is present locally",
        description="List every dataset of the catalog with its size and class split, and "
                    "whether its files are present under the data root with the expected "
                    "sha256.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="show these datasets file by file, with paths and URLs")
    parser.add_argument("--root", default=None,
                        help=f"data root (default: ${ENV_VAR}, else ./datasets)")
    parser.add_argument("--kind", choices=KINDS, default=None, help="only this kind")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the catalog table; returns 0."""
    root = data_root(args.root)
    if args.names:
        try:
            chosen = [dataset_info(name) for name in args.names]
        except ValueError as err:
            print(f"fgsam datasets: error: {err}", file=sys.stderr)
            return 2
        print(f"data root: {root.resolve()}")
        for info in chosen:
            print()
            print(describe(info, root))
        return 0
    infos = [info for info in CATALOG if args.kind is None or info.kind == args.kind]
    rows = [(info.name, info.kind, _size(info), _split(info), local_status(info, root))
            for info in infos]
    print(f"data root: {root.resolve()}")
    print(format_table(HEADER, rows))
    return 0


def describe(info: DatasetInfo, root: Any = None) -> str:
    """A dataset in detail: statistics, split, notes, and each file's path, state and URL."""
    stats = ", ".join(f"{key} {_num(value)}" for key, value in info.stats.items())
    rows = []
    for spec in info.files:
        found = locate(spec, root)
        state = file_status(spec, root)
        if found is not None and found[1] is not spec:
            state += f" (copy {found[1].path})"
        rows.append((spec.path, state, spec.url))
    lines = [f"{info.name} ({info.kind}, {info.format} format)", f"  {stats}",
             f"  class split: {_split(info)}", f"  source: {info.citation}"]
    if info.notes:
        lines.append(f"  notes: {info.notes}")
    table = format_table(("file", "state", "url"), rows)
    return "\n".join(lines + ["  " + line for line in table.splitlines()])


def local_status(info: DatasetInfo, root: Any = None) -> str:
    """``"ok (n files)"``, ``"missing"``, ``"partial: k of n files"``, or the sha256
    mismatches, for the files of ``info`` under the data root."""
    states = [file_status(spec, root) for spec in info.files]
    total = len(states)
    bad = states.count("sha mismatch")
    present = total - states.count("missing")
    if bad:
        return f"SHA256 MISMATCH in {bad} of {total} files"
    if present == total:
        return f"ok ({total} files, sha256 checked)" if total > 1 else "ok (sha256 checked)"
    if present == 0:
        return "missing"
    missing = [spec.path.rsplit("/", 1)[-1] for spec, state in zip(info.files, states)
               if state == "missing"]
    names = f" (missing {', '.join(missing)})" if len(missing) <= 2 else ""
    return f"partial: {present} of {total} files{names}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain text table with columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in (header, ["-" * w for w in widths], *rows)]
    return "\n".join(lines)


def _size(info: DatasetInfo) -> str:
    s = info.stats
    if info.kind == "graph":
        subset = info.options.get("subset_of")  # said plainly: not the published benchmark
        return (f"{_num(s.get('nodes'))} nodes, {_num(s.get('classes'))} classes"
                + (f", a subset of {subset}, not its benchmark" if subset else ""))
    return f"{_num(s.get('molecules'))} molecules, {_num(s.get('tasks'))} tasks"


def _split(info: DatasetInfo) -> str:
    how = info.options.get("split")
    if isinstance(how, str):
        return how
    if not isinstance(how, dict):
        return "-"
    kind = how.get("kind")
    if kind == "published":
        return "published (TENT)"
    if kind == "tlp":
        return f"TLP {'/'.join(map(str, how['counts']))} (seeded)"
    if kind == "gpn":
        return f"GPN: test file, {how['val']} val seeded"
    if kind == "random":
        return f"random rest/{how['val']}/{how['test']} (seeded)"
    return str(kind)


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


__all__ = ["add_parser", "describe", "format_table", "local_status", "run"]
