"""ogbn-arxiv through OGB's loader: a dataset in OGB's raw layout, and the offline errors."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fgsam.data import dataset_info, load_graph
from fgsam.data.ogbn_arxiv import OGBN_ARXIV_URL, read_ogbn_arxiv


def _csv_gz(path: Path, rows: np.ndarray, fmt: str) -> None:
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt=fmt, delimiter=",")


def _write_ogb_arxiv(root: Path, per_class: int = 3, classes: int = 40) -> dict:
    """A small graph in OGB's raw ogbn-arxiv layout (directed citations, 128-d features)."""
    folder = root / "ogb/ogbn_arxiv"
    (folder / "raw").mkdir(parents=True)
    (folder / "RELEASE_v1.txt").write_text("ogbn-arxiv release v1\n")
    rng = np.random.default_rng(0)
    n = per_class * classes
    edges = np.unique(rng.integers(0, n, (4 * n, 2)), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    x = rng.standard_normal((n, 128)).astype(np.float32)
    y = np.repeat(np.arange(classes), per_class)
    _csv_gz(folder / "raw/edge.csv.gz", edges, "%d")
    _csv_gz(folder / "raw/node-feat.csv.gz", x, "%.6f")
    _csv_gz(folder / "raw/node-label.csv.gz", y.reshape(-1, 1), "%d")
    _csv_gz(folder / "raw/node_year.csv.gz", np.full((n, 1), 2015), "%d")
    _csv_gz(folder / "raw/num-node-list.csv.gz", np.array([[n]]), "%d")
    _csv_gz(folder / "raw/num-edge-list.csv.gz", np.array([[len(edges)]]), "%d")
    return {"edges": edges, "x": x, "y": y}


def test_ogb_path_on_files_in_its_layout(data_root: Path, tmp_path: Path) -> None:
    truth = _write_ogb_arxiv(tmp_path)
    split_spec = dataset_info("ogbn-arxiv").files[-1]
    (tmp_path / split_spec.path).parent.mkdir(parents=True)
    shutil.copyfile(data_root / split_spec.path, tmp_path / split_spec.path)
    data, split = load_graph("ogbn-arxiv", root=tmp_path, download=False)
    assert data.num_nodes == truth["y"].size and data.x.shape == (truth["y"].size, 128)
    assert torch.allclose(data.x, torch.from_numpy(truth["x"]), atol=1e-6)
    assert torch.equal(data.y, torch.from_numpy(truth["y"]))
    directed = {tuple(e) for e in truth["edges"].tolist()}
    undirected = directed | {(b, a) for a, b in directed}
    assert set(map(tuple, data.edge_index.t().tolist())) == undirected
    assert split.source == "published"
    assert (len(split.train), len(split.val), len(split.test)) == (15, 5, 20)
    # the second load reads OGB's processed cache
    assert torch.equal(load_graph("ogbn-arxiv", root=tmp_path)[0].edge_index, data.edge_index)


def test_missing_offline_names_files_folder_and_url(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        read_ogbn_arxiv(tmp_path, download=False)
    message = str(err.value)
    assert "edge.csv.gz" in message and "node-feat.csv.gz" in message
    assert str(tmp_path / "ogb/ogbn_arxiv/raw") in message and OGBN_ARXIV_URL in message
    assert not (tmp_path / "ogb").exists()


def test_failed_download_is_a_file_not_found_error(tmp_path: Path, monkeypatch) -> None:
    # OGB downloads from the URL in its own table: point it at a file that does not exist
    import ogb.nodeproppred.dataset_pyg as dataset_pyg

    table = dataset_pyg.pd.read_csv
    unreachable = (tmp_path / "nowhere" / "arxiv.zip").as_uri()

    def read_csv(*args, **kwargs):
        frame = table(*args, **kwargs)
        if "ogbn-arxiv" in frame:
            frame.loc["url", "ogbn-arxiv"] = unreachable
        return frame

    monkeypatch.setattr(dataset_pyg.pd, "read_csv", read_csv)
    with pytest.raises(FileNotFoundError, match="the download failed"):
        read_ogbn_arxiv(tmp_path, download=True)
    assert not (tmp_path / "ogb/ogbn_arxiv").exists()


def test_folder_without_release_file_is_reported_not_prompted(tmp_path: Path) -> None:
    _write_ogb_arxiv(tmp_path, per_class=1)
    (tmp_path / "ogb/ogbn_arxiv/RELEASE_v1.txt").unlink()
    with pytest.raises(FileNotFoundError, match="RELEASE_v1.txt"):
        read_ogbn_arxiv(tmp_path, download=False)


def test_catalog_entry(data_root: Path) -> None:
    info = dataset_info("ogbn-arxiv")
    assert info.stats["nodes"] == 169_343 and info.stats["classes"] == 40
    assert all(spec.url == OGBN_ARXIV_URL for spec in info.files[:-1])
    assert dataclasses.asdict(info)["format"] == "ogb"


def test_a_corrupt_raw_file_is_named_not_reported_missing(tmp_path: Path) -> None:
    _write_ogb_arxiv(tmp_path, per_class=1)
    path = tmp_path / "ogb/ogbn_arxiv/raw/edge.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"raw/edge.csv.gz: cannot be read as a gzip-compressed "
                                         r"CSV of numbers \(OGB's raw layout\) \(BadGzipFile"):
        read_ogbn_arxiv(tmp_path, download=False)


def test_reader_table_agrees_with_ogbs_own() -> None:
    import ogb.nodeproppred
    import pandas as pd

    from fgsam.data.ogbn_reader import OGB_RELEASE, OGBN_SETS

    master = pd.read_csv(Path(ogb.nodeproppred.__file__).parent / "master.csv", index_col=0,
                         keep_default_na=False)
    for name, spec in OGBN_SETS.items():
        meta = master[name]
        assert (spec.url, spec.download_name, spec.split) == (
            meta["url"], meta["download_name"], meta["split"])
        assert f"RELEASE_v{meta['version']}.txt" == OGB_RELEASE
        extra = [] if meta["additional node files"] == "None" else \
            meta["additional node files"].split(",")
        assert {f"{f}.csv.gz" for f in extra} <= set(spec.raw)
        assert spec.folder == "ogb/" + name.replace("-", "_")
        assert [s.path for s in dataset_info(name).files[:len(spec.raw)]] == [
            f"{spec.folder}/raw/{f}" for f in spec.raw]


def test_node_split_of_arxiv_is_ogbs(data_root: Path, tmp_path: Path) -> None:
    from fgsam.data.node_dataset import load_node_dataset

    truth = _write_ogb_arxiv(tmp_path, per_class=2)
    split = tmp_path / "ogb/ogbn_arxiv/split/time"
    with pytest.raises(FileNotFoundError, match=r"ogbn-arxiv: missing OGB split files "
                                                r"train.csv.gz, valid.csv.gz, test.csv.gz in "):
        load_node_dataset("ogbn-arxiv", root=tmp_path, download=False)
    assert not (tmp_path / "ogb/ogbn_arxiv/processed").exists()  # refused before OGB ran
    split.mkdir(parents=True)
    order = np.random.default_rng(1).permutation(truth["y"].size)  # OGB's files are unsorted
    for name, part in zip(("train", "valid", "test"), np.split(order, [40, 60])):
        _csv_gz(split / f"{name}.csv.gz", part.reshape(-1, 1), "%d")
    ds = load_node_dataset("ogbn-arxiv", root=tmp_path, download=False)
    assert ds.split == "ogb" and ds.evaluator == "ogbn-arxiv" and ds.num_classes == 40
    assert torch.equal(ds.train_idx, torch.from_numpy(np.sort(order[:40])))
    assert torch.equal(ds.test_idx, torch.from_numpy(np.sort(order[60:])))
    directed = {tuple(e) for e in truth["edges"].tolist()}
    assert set(map(tuple, ds.data.edge_index.t().tolist())) == directed | {
        (b, a) for a, b in directed}
    right = ds.data.y.clone()
    right[ds.test_idx[:5]] = (right[ds.test_idx[:5]] + 1) % 40
    assert ds.accuracy(right, ds.test_idx) == pytest.approx(1 - 5 / 20)
