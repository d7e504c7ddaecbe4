"""``fgsam fsnc --settings ...``: a whole table of comparisons, resumable cell by cell.

A cell is one (setting, method) comparison of every listed optimizer, run exactly as a single
``fgsam fsnc`` command runs it (interleaved repeats, identical tasks and seeds, the paired
differences against the first optimizer). The sweep's ``--out`` JSON holds every finished
cell and is rewritten after each one, so an interrupted sweep started again with the same
command runs only the cells it lacks. At the end it prints a Markdown table per setting
(``--markdown`` also writes them to a file) and, with ``--plot``, draws accuracy against CPU
time per 200 episodes, one marker per optimizer, one panel per setting.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from fgsam._io import atomic_write, check_output_file, read_json_object, write_json
from fgsam._paired import interval_cell, paired_difference, signed
from fgsam._version import __version__
from fgsam.data.catalog import list_datasets
from fgsam.fewshot.method_registry import method_name

#: Arguments that say where a run computes or reports, not what it computes: a comparison or
#: a sweep resumed with other values of these is the same one.
PLACE = ("out", "markdown", "plot", "log_dir", "quiet", "threads", "device", "debug", "func",
         "root")
#: What a sweep's cells differ in, and :data:`PLACE`: the rest is the sweep's protocol.
NOT_PROTOCOL = ("settings", "method", "dataset", "way", "shot", "query", *PLACE)


class Setting(NamedTuple):
    """One few-shot setting of a sweep: a dataset and the task shape."""

    dataset: str
    n_way: int
    k_shot: int
    q_query: int

    def label(self) -> str:
        return f"{self.dataset} {self.n_way}-way {self.k_shot}-shot {self.q_query}-query"


def parse_settings(text: str, default_query: int = 10) -> list[Setting]:
    """``"cora:2:3,wiki:5:3:8"`` → settings (the query count defaults to ``default_query``),
    checked before any work: a one-line ``ValueError`` names the bad item.

    Example:
        >>> parse_settings("cora:2:3,wiki:5:3:8")
        [Setting(dataset='cora', n_way=2, k_shot=3, q_query=10), Setting(dataset='wiki', ...)]
    """
    out = []
    for item in (s.strip() for s in text.split(",")):
        parts = item.split(":")
        if len(parts) not in (3, 4) or not all(p.strip().isdigit() for p in parts[1:]):
            raise ValueError(f"--settings takes DATASET:N:K[:Q] items such as cora:2:3 or "
                             f"wiki:5:3:8, got {item!r}")
        name, graphs = parts[0].strip().lower(), list_datasets("graph")
        if name not in graphs:
            raise ValueError(f"--settings: unknown dataset {parts[0]!r} in {item!r}; the "
                             f"catalog's graphs: {', '.join(graphs)}")
        n, k, *q = (int(p) for p in parts[1:])
        if min(n, k, *q) < 1:
            raise ValueError(f"--settings: N, K and Q must be >= 1, got {item!r}")
        out.append(Setting(name, n, k, q[0] if q else default_query))
    if len(set(out)) != len(out):
        raise ValueError(f"--settings lists a setting twice: {text!r}")
    return out


def cell_key(setting: Setting, method: str) -> str:
    """The cell's name in the sweep JSON: ``"wiki 5-way 3-shot 8-query / gpn"``."""
    return f"{setting.label()} / {method}"


def _protocol(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in sorted(vars(args).items()) if k not in NOT_PROTOCOL}


def run_sweep(args: argparse.Namespace, run_cell: Callable[[argparse.Namespace], int]) -> int:
    """Run every cell of ``args.settings`` × ``args.method`` not yet in ``args.out`` with
    ``run_cell`` (``fgsam fsnc``'s own run on one setting and method), writing the sweep
    JSON after each. Returns the exit status: 0, 2 if a cell failed (its error is recorded
    and the other cells run), 3 if an optimizer diverged somewhere."""
    settings = parse_settings(args.settings) if args.settings else [
        Setting(args.dataset.lower(), args.way, args.shot, args.query)]
    methods = [method_name(m.strip()) for m in args.method.split(",") if m.strip()]
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"--method needs distinct method names, got {args.method!r}")
    if args.out is None:
        raise ValueError("a sweep (--settings, or several --method) needs --out FILE: it "
                         "keeps every finished cell there and resumes from it")
    if args.save_checkpoint is not None:
        raise ValueError("--save-checkpoint keeps one comparison's models; run that cell on "
                         "its own to save them")
    check_output_file(args.out, "--out")
    for flag in ("markdown", "plot"):
        check_output_file(getattr(args, flag), f"--{flag}")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError as err:
            raise ValueError("--plot needs matplotlib (pip install fgsam[plot])") from err
    store = _resume(args)
    cell_out = Path(str(args.out) + ".cell.json")
    keys = {cell_key(s, m) for s in settings for m in methods}
    _adopt(store, args.out, cell_out, keys)  # the cell a killed sweep was running
    statuses = [0]
    for setting in settings:
        for method in methods:
            key = cell_key(setting, method)
            if _done(store["cells"].get(key) or {}, args.repeats):
                print(f"== {key}: done (in {args.out})", flush=True)
                continue
            print(f"== {key}", flush=True)
            cell = copy.copy(args)
            cell.settings, cell.method, cell.out = None, method, str(cell_out)
            cell.dataset, cell.way, cell.shot, cell.query = setting
            if args.log_dir is not None:
                cell.log_dir = str(Path(args.log_dir) / _slug(key))
            if (store["cells"].get(key) or {}).get("results"):  # its finished repeats resume
                write_json(cell_out, store["cells"][key])
            error = None
            try:
                statuses.append(run_cell(cell))
            except (ValueError, OSError) as err:  # this cell only: the others still run
                print(f"fgsam fsnc: error: {key}: {err}", file=sys.stderr)
                error = str(err)
                statuses.append(2)
            finally:  # after an interrupt too: what the cell finished goes into --out
                store["cells"][key] = _read_cell(cell_out, error)
                store["complete"] = all(_done(store["cells"].get(k) or {}, args.repeats)
                                        for k in keys)
                write_json(args.out, store)
                cell_out.unlink(missing_ok=True)
    text = sweep_markdown(store, settings, methods)
    print("\n" + text)
    if args.markdown is not None:
        atomic_write(args.markdown, lambda f: f.write((text + "\n").encode("utf-8")))
    if args.plot is not None:
        sweep_plot(store, settings, methods, args.plot)
    return 2 if 2 in statuses else max(statuses)


def _resume(args: argparse.Namespace) -> dict[str, Any]:
    head = {"sweep": True, "version": __version__, "protocol": _protocol(args),
            "command": " ".join(sys.argv)}
    path = Path(args.out)
    if not path.is_file():
        return {**head, "complete": False, "cells": {}}
    old = read_json_object(path, "a sweep written by fgsam fsnc --settings")
    if not old.get("sweep"):
        raise ValueError(f"--out {str(path)!r} holds a single run, not a sweep; give another "
                         f"file")
    was, now = dict(old.get("protocol", {})), head["protocol"]
    had = was.pop("repeats", None)
    diff = sorted(k for k in {**was, **now} if k != "repeats" and was.get(k) != now.get(k))
    if diff:
        raise ValueError(f"--out {str(path)!r} holds a sweep with other settings ({', '.join(diff)}"
                         f"); resume it with the same arguments, or give another file")
    if not isinstance(had, int) or had > args.repeats:
        raise ValueError(f"--out {str(path)!r} holds a sweep of {had} repeats; resume it with "
                         f"--repeats {had} or more (more extends every cell), or give another "
                         f"file")
    return {**old, **{k: head[k] for k in ("version", "command", "protocol")},
            "complete": old.get("complete") and had == args.repeats}


def _done(cell: dict[str, Any], repeats: int) -> bool:
    """Whether a cell is finished with ``repeats`` repeats (a cell of fewer is extended)."""
    return bool(cell.get("complete")) and cell.get("arguments", {}).get("repeats") == repeats


def _read_cell(cell_out: Path, error: str | None) -> dict[str, Any]:
    """The cell's record in ``cell_out``, finished or not; with ``error``, marked unfinished
    and holding it."""
    cell = read_json_object(cell_out, "a cell's results") if cell_out.is_file() else {}
    return cell if error is None else {**cell, "complete": False, "error": error}


def _adopt(store: dict[str, Any], store_path: str, cell_out: Path, keys: set[str]) -> None:
    """Put the record a killed sweep left in ``cell_out`` into ``store`` (written to
    ``store_path``) when it is an unfinished cell of this sweep; remove the file.
    :func:`fgsam.fewshot.record.resume` checks, when the cell runs, that its settings are
    this sweep's."""
    if not cell_out.is_file():
        return
    try:
        cell = read_json_object(cell_out, "a cell's results")
        a = cell.get("arguments", {})
        key = cell_key(Setting(str(a["dataset"]).lower(), a["way"], a["shot"], a["query"]),
                       method_name(a["method"]))
    except (ValueError, KeyError, TypeError):
        cell, key = {}, None
    if key in keys and not (store["cells"].get(key) or {}).get("complete") \
            and cell.get("results"):
        store["cells"][key] = cell
        write_json(store_path, store)
    cell_out.unlink()


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9+.-]+", "_", key).strip("_")


def _cells(store: dict[str, Any], setting: Setting, methods: list[str]
           ) -> dict[str, dict[str, Any]]:
    return {m: _shown(store["cells"].get(cell_key(setting, m)) or {}) for m in methods}


def _shown(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell as the tables show it: an unfinished one holds only its error, if any."""
    return cell if cell.get("complete") else {k: v for k, v in cell.items() if k == "error"}


def sweep_summary(store: dict[str, Any], settings: list[Setting], methods: list[str]) -> str:
    """One Markdown table of the whole sweep: a row per cell (setting and method), the first
    optimizer's accuracy, then each other optimizer's paired difference from it with its
    95% interval, in bold where the interval excludes 0; "–" for a cell not run."""
    rows = [(s, m, c) for s in settings for m, c in _cells(store, s, methods).items()]
    names = list(dict.fromkeys(o for _, _, c in rows for o in c.get("results", {})))
    if not names:
        return ""
    lines = [f"| setting | method | {names[0]} acc (%) | "
             + " | ".join(f"{n} Δ" for n in names[1:]) + " |",
             "|---|---|---|" + "---|" * (len(names) - 1)]
    for setting, method, cell in rows:
        results = cell.get("results", {})
        first = results.get(names[0], {}).get("accuracy", {}).get("mean")
        row = [setting.label(), method, "–" if first is None else f"{first:.2f}"]
        for name in names[1:]:
            d = results.get(name, {}).get("vs_baseline")
            text = "–" if d is None else (f"{signed(d['mean'], 1)} [{signed(d['low'], 1)}, "
                                          f"{signed(d['high'], 1)}]")
            row.append(f"**{text}**" if d is not None and (d["low"] > 0 or d["high"] < 0)
                       else text)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def sweep_controls(store: dict[str, Any], control: str, names: list[str] | None = None) -> str:
    """What each optimizer adds over a ``control`` of the same cells (e.g. ``fgsam-rho0``,
    joint training without perturbation): a Markdown row per cell holding the control, its
    accuracy and each other optimizer's paired difference from it on the same tasks
    (percentage points, 95% interval, Wilcoxon p; :func:`fgsam._paired.paired_difference`,
    the statistics of the Δ-vs-first column). ``names``: the optimizers compared (default:
    every other one of the cell)."""
    cells = [(k, _shown(c).get("results", {})) for k, c in store["cells"].items()]
    cells = [(k, r) for k, r in cells if r.get(control, {}).get("accuracy", {}).get("mean")
             is not None]
    if names is None:
        names = list(dict.fromkeys(o for _, r in cells for o in r if o != control))
    lines = [f"| cell | {control} acc (%) | " + " | ".join(f"{n} − {control}" for n in names)
             + " |", "|---|---|" + "---|" * len(names)]
    for key, results in cells:
        base = [rep["test_accs"] for rep in results[control]["repeats"]]
        row = [key, f"{results[control]['accuracy']['mean']:.2f}"]
        for name in names:
            other = results.get(name)
            if other is None or other["accuracy"]["mean"] is None:
                row.append("–")
                continue
            d = paired_difference(base, [rep["test_accs"] for rep in other["repeats"]])
            row.append(interval_cell(100 * d.mean, 100 * d.low, 100 * d.high, d.p_value, 1))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def sweep_markdown(store: dict[str, Any], settings: list[Setting], methods: list[str]) -> str:
    """The :func:`sweep_summary` table, then a Markdown table per setting: a row per
    optimizer, per method the accuracy (%) ± 95% CI, the paired difference from the first
    optimizer (percentage points, 95% interval, Wilcoxon p) and the CPU seconds per 200
    episodes with the ratio to the first; "–" for a cell not run (or failed: its error
    follows the table)."""
    summary = sweep_summary(store, settings, methods)
    lines = [summary, ""] if summary else []
    for setting in settings:
        cells = _cells(store, setting, methods)
        names = list(dict.fromkeys(o for c in cells.values() for o in c.get("results", {})))
        lines += [f"**{setting.label()}**", ""]
        head = " | ".join(f"{m} acc (%) | {m} Δ vs {names[0] if names else 'first'} | "
                          f"{m} CPU s / 200 ep" for m in methods)
        lines += [f"| optimizer | {head} |", "|---|" + "---|---|---|" * len(methods)]
        for name in names:
            row = [name]
            for m in methods:
                r = cells[m].get("results", {}).get(name)
                if r is None:
                    row += ["–", "–", "–"]
                    continue
                acc, d = r["accuracy"], r.get("vs_baseline")
                first = cells[m]["results"][names[0]]["cpu_seconds_per_200_episodes"]
                cpu = r["cpu_seconds_per_200_episodes"]
                row.append("diverged" if acc["mean"] is None else
                           f"{acc['mean']:.2f} ± {acc['ci95']:.2f}")
                row.append("–" if d is None else interval_cell(d["mean"], d["low"], d["high"],
                                                               d["p_value"]))
                ratio = f" ({cpu / first:.2f}×)" if first and name != names[0] else ""
                row.append(f"{cpu:.2f}{ratio}" if cpu is not None else "–")
            lines.append("| " + " | ".join(row) + " |")
        errors = [f"- {m}: {c['error']}" for m, c in cells.items() if c.get("error")]
        lines += ["", *errors, ""] if errors else [""]
    return "\n".join(lines).rstrip()


def sweep_plot(store: dict[str, Any], settings: list[Setting], methods: list[str],
               path: str) -> None:
    """Accuracy (± 95% CI) against CPU seconds per 200 episodes: one panel per setting, one
    marker shape per optimizer, one colour per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(settings), 3)
    rows = math.ceil(len(settings) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    markers = "osD^v<>pPX*h"
    names = list(dict.fromkeys(o for c in store["cells"].values()
                               for o in _shown(c).get("results", {})))
    for ax, setting in zip(axes.flat, settings):
        for j, (m, cell) in enumerate(_cells(store, setting, methods).items()):
            for i, name in enumerate(names):
                r = cell.get("results", {}).get(name)
                if r is None or r["accuracy"]["mean"] is None:
                    continue
                ax.errorbar(r["cpu_seconds_per_200_episodes"], r["accuracy"]["mean"],
                            yerr=r["accuracy"]["ci95"], marker=markers[i % len(markers)],
                            color=f"C{j}", linestyle="none", capsize=2,
                            label=f"{m} {name}")
        ax.set_title(setting.label(), fontsize=9)
        ax.set_xlabel("CPU s / 200 episodes")
        ax.set_ylabel("test accuracy (%)")
    for ax in list(axes.flat)[len(settings):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    legend_rows = math.ceil(len(labels) / 4)
    fig.tight_layout(rect=(0, 0.07 * legend_rows / rows, 1, 1))  # room for the legend below
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


__all__ = ["NOT_PROTOCOL", "Setting", "cell_key", "parse_settings", "run_sweep", "sweep_controls",
           "sweep_markdown", "sweep_plot", "sweep_summary"]
