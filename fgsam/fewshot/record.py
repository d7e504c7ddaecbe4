"""The ``--out`` JSON of ``fgsam fsnc``: written as each repeat finishes, resumed from."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from fgsam._io import read_json_object, strict_json
from fgsam._timing import machine_description
from fgsam._version import __version__
from fgsam.fewshot.results import FSNCResult, paired_differences, paired_to_dict, write_json
from fgsam.fewshot.sweep import PLACE


class Record:
    """The ``--out`` JSON of a comparison, rewritten atomically as each repeat finishes."""

    def __init__(self, args: argparse.Namespace, device: torch.device,
                 results: dict[str, FSNCResult]) -> None:
        self.path = args.out
        self.head = {"arguments": {k: v for k, v in vars(args).items() if k != "func"},
                     "version": __version__, "machine": machine_description(device)}
        self.results = results

    def write(self, complete: bool) -> None:
        if self.path is None:
            return
        diverged = [o for o, r in self.results.items() if r.diverged is not None]
        out = {k: r.to_dict() for k, r in self.results.items()}
        base = next(iter(self.results))
        for name, d in paired_differences(self.results).items():
            out[name]["vs_baseline"] = paired_to_dict(base, d)
        write_json(self.path, {**self.head, "complete": complete, "diverged": diverged,
                               "results": out})


def resume(args: argparse.Namespace, results: dict[str, FSNCResult]) -> None:
    """Put into ``results`` the finished repeats of the run that ``--out`` holds when it is
    this run, unfinished (interrupted, terminated or killed) or finished with fewer repeats
    than ``--repeats`` asks: the same arguments but where it reports
    (:data:`~fgsam.fewshot.sweep.PLACE`) and the number of repeats, and the same settings of
    every optimizer. Those repeats are not run again; each repeat is seeded on its own, so
    the results equal an uninterrupted run's. Any other run in ``--out`` is overwritten."""
    path = Path(args.out) if args.out is not None else None
    if path is None or not path.is_file():
        return
    try:
        old = read_json_object(path, "the results of fgsam fsnc")
    except ValueError:
        return
    saved, had = old.get("results"), old.get("arguments", {}).get("repeats")
    if not isinstance(saved, dict) or not isinstance(had, int) or (
            old.get("complete") is not False and had >= args.repeats):
        return
    ignored = (*PLACE, "repeats")
    same = (had <= args.repeats
            and _as_written({k: v for k, v in vars(args).items() if k not in ignored})
            == {k: v for k, v in old["arguments"].items() if k not in ignored}
            and list(saved) == list(results)
            and all({k: v for k, v in (saved[n].get("config") or {}).items() if k != "repeats"}
                    == _as_written({k: v for k, v in r.config.items() if k != "repeats"})
                    for n, r in results.items()))
    if not same:
        print(f"fgsam fsnc: {path} holds an unfinished run with other settings; it is run "
              f"afresh and overwritten", file=sys.stderr)
        return
    for name, result in results.items():
        result.repeats = FSNCResult.from_dict(saved[name]).repeats
    done = sum(len(r.repeats) for r in results.values())
    print(f"resuming {path}: {done} of {len(results) * args.repeats} runs finished", flush=True)


def _as_written(obj: Any) -> Any:
    """``obj`` as the JSON of ``--out`` reads back (tuples as lists, NaN as null)."""
    return json.loads(json.dumps(strict_json(obj), allow_nan=False))


__all__ = ["Record", "resume"]
