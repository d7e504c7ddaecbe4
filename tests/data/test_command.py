"""``fgsam datasets``: the catalog table with local presence and sha256 status."""

from __future__ import annotations

import shutil
from pathlib import Path

from fgsam.cli import main
from fgsam.data import dataset_info
from fgsam.data.command import format_table, local_status


def _rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert lines[1].startswith("name ") and set(lines[2]) <= {"-", " "}
    return {line.split()[0]: line for line in lines[3:]}


def test_lists_every_graph_with_its_local_state(data_root: Path, capsys) -> None:
    assert main(["datasets", "--root", str(data_root), "--kind", "graph"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"data root: {data_root.resolve()}"
    rows = _rows(out)
    assert len(rows) == 14  # the 12 few-shot graphs, the Amazon-Clothing subset, ogbn-products
    assert rows["amazon-clothing-test20"].endswith("ok (2 files, sha256 checked)")
    assert "2,708 nodes, 7 classes" in rows["cora"] and "TLP 3/2/2" in rows["cora"]
    assert rows["cora"].endswith("ok (8 files, sha256 checked)")
    assert rows["wiki"].endswith("ok (sha256 checked)")
    assert "published (TENT)" in rows["corafull"]
    assert rows["corafull"].endswith("partial: 1 of 2 files (missing cora_full.npz)")
    assert rows["amazon-clothing"].endswith("(missing amazon-clothing_train.mat)")
    assert rows["ogbn-arxiv"].endswith("partial: 1 of 7 files")
    assert "2,449,029 nodes, 47 classes" in rows["ogbn-products"]
    assert rows["ogbn-products"].endswith("missing")


def test_empty_root_and_corrupted_file(data_root: Path, tmp_path: Path, capsys) -> None:
    assert main(["datasets", "--root", str(tmp_path), "--kind", "graph"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert all(line.endswith("missing") for line in rows.values())
    info = dataset_info("wiki")
    copy = tmp_path / info.files[0].path
    copy.parent.mkdir(parents=True)
    shutil.copyfile(data_root / info.files[0].path, copy)
    assert local_status(info, tmp_path) == "ok (sha256 checked)"
    with open(copy, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    assert local_status(info, tmp_path) == "SHA256 MISMATCH in 1 of 1 files"


def test_format_table_aligns_columns() -> None:
    table = format_table(("a", "bb"), [("xxx", "y"), ("z", "wwww")])
    assert table.splitlines() == ["a    bb", "---  ----", "xxx  y", "z    wwww"]


def test_whole_catalog_and_detail_view(data_root: Path, capsys) -> None:
    from fgsam.data import list_datasets

    assert main(["datasets", "--root", str(data_root)]) == 0
    assert set(_rows(capsys.readouterr().out)) == set(list_datasets())
    assert main(["datasets", "amazon-clothing", "--root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "ok (copy fsnc/amazon-clothing_PARTIAL/amazon-clothing_network.gz)" in out
    train = next(s for s in dataset_info("amazon-clothing").files if "train" in s.path)
    assert any(train.path in line and "missing" in line and train.url in line
               for line in out.splitlines())
    assert main(["datasets", "no-such-set"]) == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err
