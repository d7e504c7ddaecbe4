"""The --out record of fgsam fsnc: which files a run resumes from (the across-process
equality of a resumed run is in test_reproducibility.py)."""

from __future__ import annotations

import argparse
import json

import torch

from fgsam.fewshot.record import Record, resume
from fgsam.fewshot.results import FSNCResult, RepeatResult


def args_for(out, repeats=2, lr=0.1, quiet=True):
    return argparse.Namespace(out=str(out), repeats=repeats, lr=lr, quiet=quiet, threads=1,
                              func=print)


def results(repeats=2, lr=0.1, done=0):
    runs = [RepeatResult(repeat=i, seeds={"model": i}, test_accs=[0.5, 1.0],
                         val_history=[[2, 0.5]], best_val_acc=0.5, best_episode=2, episodes=4,
                         train_seconds=1.0, cpu_steps=[0.1] * 4) for i in range(done)]
    return {"adam": FSNCResult(runs, {"lr": lr, "repeats": repeats}),
            "fgsam+": FSNCResult(runs[:1], {"lr": lr, "repeats": repeats})}


def written(out, complete, **kwargs):
    Record(args_for(out, **{k: v for k, v in kwargs.items() if k != "done"}),
           torch.device("cpu"), results(**kwargs)).write(complete)


def test_what_a_run_resumes_from(tmp_path, capsys):
    out = tmp_path / "r.json"
    written(out, complete=False, done=2)
    fresh = results()
    resume(args_for(out, quiet=False), fresh)  # where it reports is not a setting
    assert [len(r.repeats) for r in fresh.values()] == [2, 1]
    assert fresh["adam"].repeats[1].test_accs == [0.5, 1.0]
    assert fresh["adam"].repeats[1].blocks == [0.1]  # its CPU time kept
    assert f"resuming {out}: 3 of 4 runs finished" in capsys.readouterr().out
    for case in ({"complete": True, "done": 2},  # finished with as many repeats: run again
                 {"complete": False, "done": 2, "lr": 0.2}):  # another run
        written(out, **case)
        fresh = results()
        resume(args_for(out), fresh)
        assert [len(r.repeats) for r in fresh.values()] == [0, 0], case
    assert "holds an unfinished run with other settings" in capsys.readouterr().err
    written(out, complete=True, done=2, repeats=2)
    fresh = results(repeats=3)
    resume(args_for(out, repeats=3), fresh)  # finished with fewer: extended
    assert [len(r.repeats) for r in fresh.values()] == [2, 1]
    out.write_text("not json")
    resume(args_for(out), results())  # overwritten, as any file that is not a record
    out.write_text(json.dumps({"complete": False, "results": []}))
    resume(args_for(out), results())
