"""Bad input to ``fgsam bench``: one case per test, each refused before any graph is loaded
or step timed, with one line on stderr (``fgsam bench: error: ...``, exit status 2) that
names the argument, the value and what would be valid, and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from fgsam.cli import main

TINY = ["--rounds", "1", "--steps", "1", "--warmup", "0", "--threads", "1"]


def refused(capsys, argv: list[str], pattern: str, *watched: Path) -> str:
    """Run ``fgsam bench argv`` and check the one-line refusal matching ``pattern``; the
    folders ``watched`` must hold the same entries afterwards."""
    before = {folder: sorted(p.name for p in folder.iterdir()) for folder in watched}
    assert main(["bench", *TINY, *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err  # not even "loading ...": refused before that
    assert lines[0].startswith("fgsam bench: error: ") and "Traceback" not in captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert captured.out == ""
    for folder, names in before.items():
        assert sorted(p.name for p in folder.iterdir()) == names, folder
    return lines[0]


def test_unavailable_device(tmp_path, capsys):
    device = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    refused(capsys, ["--device", device, "--out", str(tmp_path / "b.json")],
            rf"--device '{device}' is not available in this process; available here: cpu",
            tmp_path)


def test_malformed_device(tmp_path, capsys):
    refused(capsys, ["--device", "gpu0", "--out", str(tmp_path / "b.json")],
            r"--device 'gpu0' is not a device name; available here: cpu", tmp_path)


def test_out_is_a_folder(tmp_path, capsys):
    refused(capsys, ["--out", str(tmp_path)],
            rf"--out '{tmp_path}' is a folder; give a file name, e.g. '{tmp_path}/results.json'",
            tmp_path)


def test_out_on_a_read_only_file_system(readonly_dir, capsys):
    refused(capsys, ["--out", str(readonly_dir / "b.json")],
            rf"--out '{readonly_dir}/b.json': cannot write in '{readonly_dir}' \(Read-only file "
            rf"system\); give a writable location", readonly_dir)


def test_unknown_optimizer(tmp_path, capsys):
    refused(capsys, ["--optimizers", "adam,samm", "--out", str(tmp_path / "b.json")],
            r"--optimizers: unknown optimizer 'samm'; .* and peermlp", tmp_path)
