"""Runs repeat from their seed across processes, and an interrupted run keeps what it finished.

Each run is a fresh ``python -m fgsam`` process: no global seeding from ``conftest.py``
reaches it, so a random stream that is not derived from the run's seed shows up as a
difference between two runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fgsam.optim import OPTIMIZERS
from fgsam.optim.registry import PROCEDURES
from tests.json_helpers import timing_free

#: Every registered optimizer, the training procedures and plain Adam (pinned in size).
EVERY = ["adam"] + [cls.name for cls in OPTIMIZERS] + [cls.name for cls in PROCEDURES]
SMALL = ["--dataset", "cora", "--way", "2", "--shot", "1", "--query", "3", "--episodes", "6",
         "--val-every", "2", "--val-tasks", "2", "--test-tasks", "3", "--repeats", "2",
         "--hidden", "8", "--quiet", "--threads", "1"]


def test_the_registry_is_pinned():
    assert len(EVERY) == 21


def fsnc(root: Path, out: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    return subprocess.run([sys.executable, "-m", "fgsam", "fsnc", "--root", str(root),
                           "--out", str(out), *SMALL, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("average", [[], ["--average", "swad"]], ids=["best", "swad"])
def test_same_command_twice_gives_the_same_json_for_every_optimizer(data_root, tmp_path,
                                                                    average):
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        done = fsnc(data_root, out, "--optimizer", ",".join(EVERY), *average)
        assert done.returncode == 0, done.stderr
        saved = json.loads(out.read_text())
        assert saved["arguments"].pop("out") == str(out)  # the one setting the runs differ in
        runs.append(timing_free(saved))
    assert set(runs[0]["results"]) == set(EVERY)
    for name in EVERY:
        assert runs[0]["results"][name] == runs[1]["results"][name], name
    assert runs[0] == runs[1]



def test_sparse_features_give_the_same_json_in_two_processes(data_root, tmp_path):
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        done = fsnc(data_root, out, "--optimizer", "adam,fgsam+,sam", "--feature-layout",
                    "sparse")
        assert done.returncode == 0, done.stderr
        saved = json.loads(out.read_text())
        saved["arguments"].pop("out")
        assert saved["results"]["adam"]["config"]["feature_layout_used"] == "sparse"
        runs.append(timing_free(saved))
    assert runs[0] == runs[1]

def test_sigterm_keeps_finished_repeats_and_leaves_no_temporary_file(data_root, tmp_path):
    out = tmp_path / "r.json"
    args = [sys.executable, "-m", "fgsam", "fsnc", "--root", str(data_root), "--out", str(out),
            *SMALL, "--optimizer", "adam,sam", "--repeats", "40"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert out.exists(), "no results were written before the deadline"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and err.strip().endswith("terminated")
    saved = json.loads(out.read_text())
    assert saved["complete"] is False
    assert saved["results"]["adam"]["repeats"]  # what finished is there
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_unfinished_run_resumes_from_its_json_to_the_uninterrupted_result(data_root,
                                                                            tmp_path):
    full = tmp_path / "full.json"
    done = fsnc(data_root, full, "--optimizer", "adam,fgsam+", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    whole = json.loads(full.read_text())
    # as a run stopped in its third repeat leaves it: adam has finished it, fgsam+ has not
    cut = tmp_path / "cut.json"
    partial = json.loads(full.read_text())
    partial["complete"] = False
    partial["results"]["fgsam+"]["repeats"] = partial["results"]["fgsam+"]["repeats"][:2]
    cut.write_text(json.dumps(partial))
    done = fsnc(data_root, cut, "--optimizer", "adam,fgsam+", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    assert f"resuming {cut}: 5 of 6 runs finished" in done.stdout
    resumed = json.loads(cut.read_text())
    assert resumed["complete"] is True
    for saved in (whole, resumed):
        saved["arguments"].pop("out")
    assert timing_free(resumed) == timing_free(whole)
    # the kept repeats keep their own timing: adam did not run again
    assert resumed["results"]["adam"] == whole["results"]["adam"]
    # an unfinished run with other settings is not resumed: it is run afresh
    partial["arguments"]["lr"] = 0.5
    cut.write_text(json.dumps(partial))
    done = fsnc(data_root, cut, "--optimizer", "adam,fgsam+", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    assert "holds an unfinished run with other settings; it is run afresh" in done.stderr
    assert "resuming" not in done.stdout
    again = json.loads(cut.read_text())
    again["arguments"].pop("out")
    assert timing_free(again) == timing_free(whole)
    # a finished run of 2 repeats, asked for 3, runs the third only: the 3-repeat result
    short = tmp_path / "short.json"
    assert fsnc(data_root, short, "--optimizer", "adam,fgsam+", "--repeats", "2").returncode == 0
    done = fsnc(data_root, short, "--optimizer", "adam,fgsam+", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    assert f"resuming {short}: 4 of 6 runs finished" in done.stdout
    extended = json.loads(short.read_text())
    extended["arguments"].pop("out")
    assert timing_free(extended) == timing_free(whole)
