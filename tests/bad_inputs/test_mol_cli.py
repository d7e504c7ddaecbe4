"""Bad input to ``fgsam mol``: one case per test, each refused before any training with one
line on stderr (``fgsam mol: error: ...``, exit status 2) that names the argument, the value
and what would be valid, and nothing written; and a divergence, which is not an error: the
other runs finish, and the exit status is 3."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from fgsam.cli import main
from fgsam.mol import MoleculeDataset

TINY = ["--dataset", "ogbg-molbbbp", "--max-molecules", "150", "--split", "random",
        "--hidden", "8", "--layers", "1", "--heads", "1", "--batch-size", "30", "--seeds", "1",
        "--epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cache(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding BBBP already, so that loading it says nothing on stderr."""
    folder = tmp_path_factory.mktemp("mol-cache")
    MoleculeDataset("ogbg-molbbbp", data_root, cache_dir=folder, log=False)
    return folder


def unavailable_device() -> str:
    """A CUDA device this process does not have (``cuda`` itself on a machine without)."""
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def refused(capsys, argv: list[str], pattern: str, *watched: Path) -> str:
    """Run ``fgsam mol argv`` and check the one-line refusal matching ``pattern``; the
    folders ``watched`` must hold the same entries afterwards."""
    before = {folder: sorted(p.name for p in folder.iterdir()) for folder in watched}
    assert main(["mol", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("fgsam mol: error: ") and "Traceback" not in captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert captured.out == ""  # nothing trained, nothing reported
    for folder, names in before.items():
        assert sorted(p.name for p in folder.iterdir()) == names, folder
    return lines[0]


#: Settings refused by the command's own checks: (case, arguments, pattern of the message).
SETTINGS = [
    ("zero-epochs", ["--epochs", "0"],
     r"--epochs must be an integer >= 1, got 0$"),
    ("zero-batch-size", ["--batch-size", "0"],
     r"--batch-size must be an integer >= 1, got 0$"),
    ("zero-threads", ["--threads", "0"],
     r"--threads must be an integer >= 1, got 0$"),
    ("dropout-out-of-range", ["--dropout", "1.5"],
     r"--dropout must be in \[0, 1\), got 1.5$"),
    ("negative-learning-rate", ["--lr", "-0.1"],
     r"--lr must be >= 0, got -0.1$"),
    ("unknown-optimizer", ["--optimizer", "adam,samm"],
     r"unknown optimizer 'samm'; sharpness-aware: .*graphsam"),
    ("an-optimizer-listed-twice", ["--optimizer", "sam,sam"],
     r"--optimizer lists a name twice: 'sam,sam'"),
    ("fgsam-style-optimizer", ["--optimizer", "adam,fgsam+"],
     r"optimizer 'fgsam\+' is FGSAM-style: .*fgsam fsnc.*graphsam"),
    ("malformed-opt-arg", ["--opt-arg", "beta"],
     r"--opt-arg expects \[NAME.\]KEY=VALUE, got 'beta'"),
]


@pytest.mark.parametrize(("args", "pattern"), [c[1:] for c in SETTINGS],
                         ids=[c[0] for c in SETTINGS])
def test_refused_setting(tmp_path, capsys, args, pattern):
    refused(capsys, [*TINY, *args, "--out", str(tmp_path / "r.json")], pattern, tmp_path)


def test_opt_arg_no_optimizer_takes(tmp_path, capsys):
    refused(capsys, [*TINY, "--optimizer", "adam,sam", "--opt-arg", "nope=1", "--out",
                     str(tmp_path / "r.json")],
            r"--opt-arg nope=\.\.\.: none of adam, sam takes an argument 'nope'", tmp_path)


def test_opt_arg_for_an_unlisted_optimizer(tmp_path, capsys):
    refused(capsys, [*TINY, "--optimizer", "adam", "--opt-arg", "graphsam.beta=0.9", "--out",
                     str(tmp_path / "r.json")],
            r"--opt-arg 'graphsam.beta=0.9' names 'graphsam', which is not among adam",
            tmp_path)


def test_average_option_without_average(tmp_path, capsys):
    refused(capsys, [*TINY, "--average-option", "n_converge=2", "--out",
                     str(tmp_path / "r.json")],
            r"average_options \{'n_converge': 2\} need average='swad'", tmp_path)


def test_unavailable_device(tmp_path, capsys):
    device = unavailable_device()
    refused(capsys, [*TINY, "--device", device, "--out", str(tmp_path / "r.json")],
            rf"--device '{device}' is not available in this process; available here: cpu",
            tmp_path)


def test_out_is_a_folder(tmp_path, capsys):
    refused(capsys, [*TINY, "--out", str(tmp_path)],
            rf"--out '{tmp_path}' is a folder; give a file name, e.g. '{tmp_path}/results.json'",
            tmp_path)


def test_out_on_a_read_only_file_system(readonly_dir, capsys):
    refused(capsys, [*TINY, "--out", str(readonly_dir / "r.json")],
            rf"--out '{readonly_dir}/r.json': cannot write in '{readonly_dir}' \(Read-only file "
            rf"system\); give a writable location", readonly_dir)


def test_save_checkpoint_on_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    refused(capsys, [*TINY, "--save-checkpoint", str(tmp_path / "file")],
            rf"--save-checkpoint '{tmp_path}/file' is a file; give a folder", tmp_path)


def test_save_checkpoint_with_model_pt_a_folder_for_a_later_run(tmp_path, capsys):
    # Two seeds: the second run's folder is checked as well as the first's.
    (tmp_path / "ckpt" / "adam" / "seed1" / "model.pt").mkdir(parents=True)
    refused(capsys, [*TINY, "--optimizer", "adam", "--seeds", "2", "--save-checkpoint",
                     str(tmp_path / "ckpt")],
            rf"--save-checkpoint '{tmp_path}/ckpt/adam/seed1/model.pt' is a folder",
            tmp_path / "ckpt" / "adam")


def test_save_checkpoint_on_a_read_only_file_system(readonly_dir, capsys):
    refused(capsys, [*TINY, "--save-checkpoint", str(readonly_dir / "ckpt")],
            rf"--save-checkpoint '{readonly_dir}/ckpt': cannot write in '{readonly_dir}' "
            rf"\(Read-only file system\)", readonly_dir)


def test_cache_dir_on_a_read_only_file_system(readonly_dir, capsys):
    refused(capsys, [*TINY, "--cache-dir", str(readonly_dir)],
            rf"--cache-dir '{readonly_dir}': cannot write in '{readonly_dir}' \(Read-only file "
            rf"system\); give a writable location", readonly_dir)


def test_cache_dir_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    refused(capsys, [*TINY, "--cache-dir", str(tmp_path / "file")],
            rf"--cache-dir '{tmp_path}/file' is a file; give a folder", tmp_path)


def test_three_molecules_cannot_be_split(data_root, cache, tmp_path, capsys):
    refused(capsys, [*TINY, "--root", str(data_root), "--cache-dir", str(cache),
                     "--max-molecules", "3", "--out", str(tmp_path / "r.json"),
                     "--save-checkpoint", str(tmp_path / "ckpt")],
            r"--max-molecules 3: the random split of 3 molecules gives too few: train 2, "
            r"valid 0, test 1 \(each part needs at least: train 2, valid 1, test 1\); use more "
            r"molecules$", tmp_path, cache)


def test_one_diverged_optimizer_keeps_the_others_and_exits_3(data_root, cache, tmp_path,
                                                             capsys):
    out = tmp_path / "r.json"
    status = main(["mol", *TINY, "--root", str(data_root), "--cache-dir", str(cache),
                   "--optimizer", "adam,sam", "--opt-arg", "adam.lr=1e30", "--out", str(out)])
    assert status == 3
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines == [f"fgsam mol: diverged: adam seed 0 (recorded in the table and {out}); "
                     f"the other runs finished"]
    results = json.loads(out.read_text())
    assert results["complete"] is True
    assert [(d["optimizer"], d["seed"]) for d in results["diverged"]] == [("adam", 0)]
    adam, sam = results["results"]["adam"], results["results"]["sam"]
    assert adam["test_mean"] is None and adam["diverged"][0]["epoch"] == 1
    assert adam["seeds"][0]["diverged"]["pass"] in ("training", "validation")
    assert sam["diverged"] == [] and math.isfinite(sam["test_mean"])
    assert len(sam["seeds"][0]["history"]) == 1
    rows = {line.split(" | ")[0]: line for line in captured.out.splitlines()
            if line.startswith("| ")}
    assert rows["| adam"].startswith("| adam | diverged on 1 of 1 seed (seed 0, epoch 1")
    assert rows["| sam"].startswith(f"| sam | {sam['test_mean']:.4f} ± ")
