"""Bad input to ``fgsam fsnc``: one case each, every one refused before any training with one
line on stderr (``fgsam fsnc: error: ...``, exit status 2) that names the argument, the
value and what would be valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fgsam.cli import main

TINY = ["--dataset", "cora", "--way", "2", "--shot", "1", "--query", "3", "--episodes", "4",
        "--val-every", "2", "--val-tasks", "2", "--test-tasks", "3", "--repeats", "1",
        "--hidden", "8", "--quiet"]

#: (case, extra arguments, a pattern of the one-line message); "{tmp}" is a scratch folder
#: holding a file named "file".
CASES = [
    ("unknown-dataset", ["--dataset", "nope"], r"unknown dataset 'nope'; the catalog has: cora"),
    ("unknown-method", ["--method", "gcn"], r"unknown method 'gcn'; valid methods: gpn"),
    ("unknown-optimizer", ["--optimizer", "adam,samm"], r"unknown optimizer 'samm'"),
    ("empty-optimizer-list", ["--optimizer", ","], r"--optimizer needs at least one name"),
    ("duplicate-optimizer", ["--optimizer", "sam,sam"], r"--optimizer lists a name twice"),
    ("too-many-ways", ["--way", "3"], r"n_way=3 is larger than the 2 usable val classes"),
    ("zero-way", ["--way", "0"], r"--way must be >= 1, got 0"),
    ("zero-shot", ["--shot", "0"], r"--shot must be >= 1, got 0"),
    ("zero-hidden", ["--hidden", "0"], r"--hidden must be >= 1, got 0"),
    ("zero-queries", ["--query", "0"], r"q_query must be an integer >= 1, got 0"),
    ("zero-repeats", ["--repeats", "0"], r"repeats must be an integer >= 1, got 0"),
    ("zero-episodes", ["--episodes", "0"], r"episodes must be an integer >= 1, got 0"),
    ("zero-val-every", ["--val-every", "0"], r"val_every must be an integer >= 1, got 0"),
    ("zero-test-tasks", ["--test-tasks", "0"], r"test_tasks must be an integer >= 1, got 0"),
    ("zero-threads", ["--threads", "0"], r"--threads must be >= 1, got 0"),
    ("negative-rho", ["--optimizer", "sam", "--rho", "-1"], r"rho must be a finite number >= 0, "
                                                            r"got -1"),
    ("negative-lr", ["--optimizer", "sam", "--lr", "-0.1"], r"lr must be a finite number >= 0"),
    ("malformed-opt-arg", ["--opt-arg", "k2"], r"--opt-arg expects \[NAME.\]KEY=VALUE, got 'k2'"),
    ("opt-arg-for-unlisted", ["--opt-arg", "vasso.theta=0.5"], r"names 'vasso', which is not "
                                                               r"among adam"),
    ("opt-arg-nobody-takes", ["--optimizer", "adam", "--opt-arg", "k=2"],
     r"none of adam takes an argument 'k'"),
    ("opt-arg-bad-value", ["--optimizer", "fgsam+", "--opt-arg", "k=0"], r"k must be"),
    ("method-arg-unknown", ["--method-arg", "inner_steps=2"], r"--method-arg: .*inner_steps"),
    ("average-option-alone", ["--average-option", "n_converge=2"],
     r"--average-option needs --average swad"),
    ("swad-unknown-option", ["--average", "swad", "--average-option", "n_start=2"],
     r"SWAD has no option 'n_start'"),
    ("swad-and-test-last", ["--average", "swad", "--test-last"],
     r"--test-last and --average choose different"),
    ("device-missing", ["--device", "cuda:7"], r"--device 'cuda:7' is not available in this "
                                               r"process; available here: cpu"),
    ("device-malformed", ["--device", "gpu0"], r"--device 'gpu0' is not a device name; "
                                               r"available here: cpu"),
    ("out-is-a-folder", ["--out", "{tmp}"], r"--out '.*' is a folder; give a file name"),
    ("out-under-a-file", ["--out", "{tmp}/file/r.json"], r"--out '.*': '.*file' is a file, not "
                                                         r"a folder"),
    ("checkpoint-is-a-file", ["--save-checkpoint", "{tmp}/file"],
     r"--save-checkpoint '.*file' is a file; give a folder"),
    ("checkpoint-holds-a-folder", ["--save-checkpoint", "{tmp}/ckpt"],
     r"--save-checkpoint '.*model.pt' is a folder"),
    ("missing-data-root", ["--root", "{tmp}/no-data"], r"missing dataset file 'ind.cora.x': "
                                                      r"expected at .*no-data"),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fsnc_refuses(data_root, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setenv("FGSAM_DOWNLOAD", "0")  # offline: a missing file is not fetched
    (tmp_path / "file").write_text("x")
    (tmp_path / "ckpt" / "model.pt").mkdir(parents=True)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["fsnc", "--root", str(data_root), *TINY, *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("fgsam fsnc: error: ") and "Traceback" not in captured.err
    assert re.search(message, captured.err), captured.err
    assert "acc " not in captured.out  # nothing was trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "file"]  # nothing written


def test_fsnc_read_only_out(data_root, readonly_dir, capsys):
    assert main(["fsnc", "--root", str(data_root), *TINY, "--out",
                 str(readonly_dir / "r.json")]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"fgsam fsnc: error: --out '.*r\.json': cannot write in '.*' "
                        r"\(Read-only file system\); give a writable location\n", err)


def test_fsnc_read_only_checkpoint_folder(data_root, readonly_dir, capsys):
    assert main(["fsnc", "--root", str(data_root), *TINY, "--save-checkpoint",
                 str(Path(readonly_dir) / "ckpt")]) == 2
    assert "--save-checkpoint" in capsys.readouterr().err


def test_fsnc_pins_its_case_count():
    assert len(CASES) == 32


def test_trainer_refuses_a_graph_with_one_nan_feature():
    import torch
    from torch_geometric.data import Data

    from fgsam.data.class_split import ClassSplit
    from fgsam.fewshot import ProtoNet
    from fgsam.fewshot.trainer import EpisodicTrainer

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(6).repeat_interleave(8)
    x = torch.randn(48, 5, generator=gen)
    x[12, 3] = float("nan")  # once trained to exactly chance, with no warning
    data = Data(x=x, edge_index=torch.tensor([[0, 1], [1, 0]]), y=y)
    split = ClassSplit([0, 1], [2, 3], [4, 5], source="custom")
    with pytest.raises(ValueError, match=r"x has 1 non-finite entr.*row 12"):
        EpisodicTrainer(lambda: ProtoNet(5), data, split, n_way=2, k_shot=2, q_query=3)
