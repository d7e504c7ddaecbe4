"""Every script in examples/ answers ``--help`` and finishes a tiny run, each in its own process.

The scripts are pinned by name: a new example fails the listing test until it is added here,
with a tiny run. Runs that read data take the real data root from the ``data_root`` fixture,
so missing data fails them (never a skip), and downloads are switched off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Every script of examples/, by file name.
EXAMPLES = [
    "fewshot_gpn.py",
    "fgsam_edge_features.py",
    "fgsam_large_graph.py",
    "fgsam_node_classification.py",
    "fgsam_ogbn_arxiv.py",
    "molecules_graphsam.py",
]

#: A tiny run of each example: a few steps on tiny sizes ({root}: data root, {tmp}: scratch).
TINY_RUNS = {
    "fewshot_gpn.py": ["--root", "{root}", "--episodes", "4", "--device", "cpu"],
    "fgsam_edge_features.py": ["--nodes", "200", "--edges", "800", "--epochs", "3"],
    "fgsam_large_graph.py": ["--dataset", "cora", "--root", "{root}", "--epochs", "1",
                             "--threads", "1"],
    "fgsam_node_classification.py": ["--root", "{root}", "--epochs", "2", "--device", "cpu"],
    "fgsam_ogbn_arxiv.py": ["--scale", "0.02", "--epochs", "1", "--batch-size", "256",
                            "--fanout", "5,5", "--hidden", "32", "--threads", "1",
                            "--device", "cpu"],
    "molecules_graphsam.py": ["--dataset", "ogbg-molfreesolv", "--root", "{root}",
                              "--cache-dir", "{tmp}/cache", "--max-molecules", "60",
                              "--epochs", "1", "--device", "cpu"],
}


def scripts_in(folder: str) -> list[str]:
    """The Python scripts of ``folder`` (relative to the repository), sorted."""
    return sorted(p.name for p in (REPO / folder).glob("*.py"))


def run_script(path: Path, args: list[str], cwd: Path, timeout: float = 600) -> str:
    """Run ``python path *args`` in ``cwd`` with one CPU thread and no downloads; assert
    that it exits 0 and return its standard output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "FGSAM_DOWNLOAD": "0", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{path.name} {' '.join(args)} exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )
    return done.stdout


def smoke_tests(folder: str, pinned: list[str], tiny_runs: dict[str, list[str]]):
    """The three tests of a folder of scripts: the pinned list is the files on disk (and each
    has a tiny run), every script answers ``--help``, every tiny run finishes."""

    def test_the_pinned_scripts_are_the_files_on_disk() -> None:
        assert sorted(pinned) == scripts_in(folder)
        assert sorted(tiny_runs) == sorted(pinned)

    @pytest.mark.parametrize("script", pinned)
    def test_help(script: str, tmp_path: Path) -> None:
        assert run_script(REPO / folder / script, ["--help"], tmp_path).startswith("usage:")

    @pytest.mark.parametrize("script", pinned)
    def test_tiny_run(script: str, data_root: Path, tmp_path: Path) -> None:
        args = [a.format(root=data_root, tmp=tmp_path) for a in tiny_runs[script]]
        assert run_script(REPO / folder / script, args, tmp_path).strip()

    return test_the_pinned_scripts_are_the_files_on_disk, test_help, test_tiny_run


test_the_pinned_examples_are_the_files_on_disk, test_help, test_tiny_run = smoke_tests(
    "examples", EXAMPLES, TINY_RUNS)
