"""Bad input to ``fgsam sharpness``: one case per test, each refused before any measurement
with one line on stderr (``fgsam sharpness: error: ...``, exit status 2) that names the
argument or file, the value and what was expected, and nothing written."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
import torch

from fgsam.cli import main

TINY = ["--tasks", "1", "--k", "1", "--trace-samples", "2", "--noise-samples", "2",
        "--ascent-steps", "1", "--landscape-steps", "2", "--dims", "1", "--quiet"]


@pytest.fixture(scope="module")
def fsnc_checkpoint(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """ProtoNet trained for a few 2-way tasks on Cora, saved by ``fgsam fsnc``."""
    folder = tmp_path_factory.mktemp("fsnc") / "protonet"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    status = main(["fsnc", "--dataset", "cora", "--method", "protonet", "--way", "2",
                   "--shot", "1", "--query", "3", "--episodes", "2", "--val-every", "2",
                   "--val-tasks", "2", "--test-tasks", "2", "--repeats", "1", "--hidden", "8",
                   "--root", str(data_root), "--quiet", "--save-checkpoint", str(folder)])
    torch.set_num_threads(threads)
    assert status == 0
    return folder


@pytest.fixture()
def checkpoint(fsnc_checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the few-shot checkpoint, to spoil."""
    folder = tmp_path / "ckpt"
    shutil.copytree(fsnc_checkpoint, folder)
    return folder


@pytest.fixture(scope="module")
def mol_checkpoint(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A one-layer GIN trained one epoch on 60 FreeSolv molecules, saved by ``fgsam mol``."""
    base = tmp_path_factory.mktemp("mol")
    threads = torch.get_num_threads()
    status = main(["mol", "--dataset", "ogbg-molfreesolv", "--model", "gin", "--optimizer",
                   "adam", "--max-molecules", "60", "--epochs", "1", "--seeds", "1", "--hidden",
                   "8", "--layers", "1", "--batch-size", "16", "--root", str(data_root),
                   "--cache-dir", str(base / "cache"), "--no-progress", "--threads", "1",
                   "--save-checkpoint", str(base / "gin")])
    torch.set_num_threads(threads)
    assert status == 0
    return base / "gin"


def refused(capsys, argv: list[str], pattern: str, *watched: Path) -> str:
    """Run ``fgsam sharpness argv`` and check the one-line refusal matching ``pattern``;
    the folders ``watched`` must hold the same entries afterwards."""
    before = {folder: sorted(p.name for p in folder.iterdir()) for folder in watched}
    assert main(["sharpness", *argv, *TINY]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("fgsam sharpness: error: ") and "Traceback" not in captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert captured.out == ""  # nothing measured
    for folder, names in before.items():
        assert sorted(p.name for p in folder.iterdir()) == names, folder
    return lines[0]


def test_truncated_model_pt(checkpoint, tmp_path, capsys):
    weights = checkpoint / "model.pt"
    weights.write_bytes(weights.read_bytes()[:200])
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{weights} cannot be read as a torch state dict \(.*\); it is truncated or not "
            rf"the model.pt written by fgsam fsnc --save-checkpoint DIR", tmp_path, checkpoint)


def test_random_bytes_model_pt(checkpoint, tmp_path, capsys):
    weights = checkpoint / "model.pt"
    weights.write_bytes(random.Random(0).randbytes(4096))
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{weights} cannot be read as a torch state dict", tmp_path, checkpoint)


def test_model_pt_of_another_model(checkpoint, tmp_path, capsys):
    weights = checkpoint / "model.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), weights)
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{weights} does not fit the model its config.json describes \(ProtoNet\)",
            tmp_path, checkpoint)


def test_model_pt_that_is_not_a_state_dict(checkpoint, tmp_path, capsys):
    weights = checkpoint / "model.pt"
    torch.save([1, 2, 3], weights)
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{weights} holds a list, not a state dict of tensors", tmp_path, checkpoint)


def test_config_json_that_is_not_json(checkpoint, tmp_path, capsys):
    (checkpoint / "config.json").write_bytes(random.Random(1).randbytes(300))
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{checkpoint / 'config.json'} is not valid JSON \(.*\); it should be the settings "
            rf"object written by `fgsam fsnc --save-checkpoint DIR`", tmp_path, checkpoint)


def test_config_json_without_the_dataset(checkpoint, tmp_path, capsys):
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    del config["dataset"]
    path.write_text(json.dumps(config))
    refused(capsys, ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "s.json")],
            rf"{path} lacks the keys \['dataset'\]; it was not written by fgsam fsnc",
            tmp_path, checkpoint)


def test_plots_on_a_file(fsnc_checkpoint, tmp_path, capsys):
    (tmp_path / "plots").write_text("x")
    refused(capsys, ["--checkpoint", str(fsnc_checkpoint), "--out", str(tmp_path / "s.json"),
                     "--plots", str(tmp_path / "plots")],
            rf"--plots '{tmp_path}/plots' is a file; give a folder", tmp_path)


def test_out_is_a_folder(fsnc_checkpoint, tmp_path, capsys):
    refused(capsys, ["--checkpoint", str(fsnc_checkpoint), "--out", str(tmp_path)],
            rf"--out '{tmp_path}' is a folder; give a file name", tmp_path)


def test_out_on_a_read_only_file_system(fsnc_checkpoint, readonly_dir, capsys):
    refused(capsys, ["--checkpoint", str(fsnc_checkpoint), "--out",
                     str(readonly_dir / "s.json")],
            rf"--out '{readonly_dir}/s.json': cannot write in '{readonly_dir}' \(Read-only file "
            rf"system\)", readonly_dir)


def test_unavailable_device(fsnc_checkpoint, tmp_path, capsys):
    device = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    refused(capsys, ["--checkpoint", str(fsnc_checkpoint), "--out", str(tmp_path / "s.json"),
                     "--device", device],
            rf"--device '{device}' is not available in this process; available here: cpu",
            tmp_path)


def test_cache_dir_on_a_read_only_file_system(mol_checkpoint, readonly_dir, tmp_path, capsys):
    refused(capsys, ["--checkpoint", str(mol_checkpoint), "--out", str(tmp_path / "s.json"),
                     "--cache-dir", str(readonly_dir)],
            rf"--cache-dir '{readonly_dir}': cannot write in '{readonly_dir}' \(Read-only file "
            rf"system\)", tmp_path, readonly_dir)


def test_one_trace_sample(fsnc_checkpoint, tmp_path, capsys):
    assert main(["sharpness", "--checkpoint", str(fsnc_checkpoint), "--out",
                 str(tmp_path / "s.json"), "--trace-samples", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "fgsam sharpness: error: --trace-samples must be at least 2, got 1\n"
    assert list(tmp_path.iterdir()) == []
