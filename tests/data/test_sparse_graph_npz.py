"""The SparseGraph .npz reader: real gnn-benchmark files and a CoraFull-format file."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fgsam.data import dataset_info, load_graph
from fgsam.data.graph_data import graph_data, num_undirected_edges
from fgsam.data.sparse_graph_npz import read_sparse_graph_npz


@pytest.mark.parametrize(("file", "counts"), [
    ("cora.npz", (2708, 5278, 1433, 7, 49216)),
    ("citeseer.npz", (3312, 4536, 3703, 6, 105165)),  # largest connected component
    ("cora_ml.npz", (2995, 8158, 2879, 7, 151171)),  # object-typed keys, read without pickle
])
def test_real_npz_counts(data_root: Path, file: str, counts: tuple[int, ...]) -> None:
    x, edge_index, y = read_sparse_graph_npz(data_root / "gnn-benchmark-npz" / file)
    data = graph_data(x, edge_index, y, file)
    nodes, edges, features, classes, nonzeros = counts
    assert data.num_nodes == nodes and num_undirected_edges(data) == edges
    assert data.x.shape == (nodes, features) and int((data.x != 0).sum()) == nonzeros
    assert int(data.y.unique().numel()) == classes


def _write_cora_full_format(path: Path, num_classes: int, per_class: int) -> tuple:
    """A small graph in gnn-benchmark's cora_full.npz layout (adj_*, attr_*, labels)."""
    rng = np.random.default_rng(0)
    n = num_classes * per_class
    labels = np.repeat(np.arange(num_classes), per_class)
    rows = rng.integers(0, n, 3 * n)
    cols = rng.integers(0, n, 3 * n)
    adj = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
    attr = sp.csr_matrix((rng.random((n, 11)) < 0.3).astype(np.float32))
    np.savez(path, adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr,
             adj_shape=np.array(adj.shape), attr_data=attr.data, attr_indices=attr.indices,
             attr_indptr=attr.indptr, attr_shape=np.array(attr.shape), labels=labels,
             node_names=np.array([f"n{i}" for i in range(n)]),
             class_names=np.array([f"c{i}" for i in range(num_classes)]))
    return adj, attr.toarray(), labels


def test_corafull_path_on_a_file_in_its_format(data_root: Path, tmp_path: Path) -> None:
    info = dataset_info("corafull")
    npz_spec, split_spec = info.files
    (tmp_path / "gnn-benchmark-npz").mkdir()
    adj, attr, labels = _write_cora_full_format(tmp_path / npz_spec.path, 70, 3)
    (tmp_path / "fsnc/class_split").mkdir(parents=True)
    shutil.copyfile(data_root / split_spec.path, tmp_path / split_spec.path)
    # the real cora_full.npz is not here: same entry, this file's bytes unchecked
    local = dataclasses.replace(info, files=(dataclasses.replace(npz_spec, sha256=None),
                                             split_spec))
    data, split = load_graph(local, root=tmp_path, download=False)
    assert torch.equal(data.x, torch.from_numpy(attr))
    assert torch.equal(data.y, torch.from_numpy(labels))
    sym = ((adj + adj.T) > 0).astype(np.int8).tolil()
    sym.setdiag(0)
    assert num_undirected_edges(data) == sp.triu(sym.tocsr(), k=1).nnz
    assert split.source == "published"
    assert (len(split.train), len(split.val), len(split.test)) == (25, 20, 25)
    with pytest.raises(ValueError, match="sha256"):
        load_graph("corafull", root=tmp_path, download=False)


def test_not_a_sparse_graph_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", labels=np.zeros(3))
    with pytest.raises(ValueError, match="not a SparseGraph"):
        read_sparse_graph_npz(tmp_path / "other.npz")


def test_truncated_npz_and_fractional_labels_name_the_file(tmp_path: Path) -> None:
    _write_cora_full_format(tmp_path / "g.npz", 3, 4)
    data = (tmp_path / "g.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.npz: cannot be read as a SparseGraph .npz .*"
                                         r"BadZipFile"):
        read_sparse_graph_npz(tmp_path / "cut.npz")
    with np.load(tmp_path / "g.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["labels"] = arrays["labels"].astype(np.float64)
    arrays["labels"][[2, 5]] = [0.5, np.nan]
    np.savez(tmp_path / "frac.npz", **arrays)
    with pytest.raises(ValueError, match=r"frac.npz: 'labels' has 2 non-integer entries \(first "
                                         r"at node 2: 0.5, node 5: nan\)"):
        read_sparse_graph_npz(tmp_path / "frac.npz")
    arrays["labels"] = np.arange(12, dtype=np.float64)  # integral floats read as before
    np.savez(tmp_path / "whole.npz", **arrays)
    assert read_sparse_graph_npz(tmp_path / "whole.npz")[2].tolist() == list(range(12))
