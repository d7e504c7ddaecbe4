"""The GPN format: the real partial Amazon-Clothing files and a full dataset in that format."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import torch

from fgsam.data import dataset_info, fetch, load_graph
from fgsam.data.gpn_format import assemble_gpn, read_gpn_mat, read_gpn_network
from fgsam.data.graph_data import graph_data, num_undirected_edges


def _spec(name: str, suffix: str):
    return next(s for s in dataset_info(name).files if s.path.endswith(suffix))


def test_real_amazon_clothing_network_and_test_file(data_root: Path) -> None:
    network = fetch(_spec("amazon-clothing", "_network"), root=data_root, download=False)
    test_mat = fetch(_spec("amazon-clothing", "_test.mat"), root=data_root, download=False)
    assert network.name.endswith(".gz")  # the offline root holds gzip copies
    edge_index = read_gpn_network(network)
    assert edge_index.size(1) == 183_360  # both directions listed
    part = read_gpn_mat(test_mat)
    assert part.index.numel() == 9_360 and part.x.shape == (9_360, 9_034)
    assert int((part.x != 0).sum()) == 301_863
    assert len(part.classes) == 20  # GPN's 20 test classes
    num_nodes = int(edge_index.max()) + 1  # GPN's convention
    assert num_nodes == 24_919 and int(part.index.max()) < num_nodes
    data = graph_data(torch.zeros(num_nodes, 0), edge_index, torch.full((num_nodes,), -1),
                      "amazon-clothing")  # no dense features: they would take 0.9 GB
    assert num_undirected_edges(data) == 91_680


def test_real_amazon_electronics_network(data_root: Path) -> None:
    path = fetch(_spec("amazon-electronics", "_network"), root=data_root, download=False)
    edge_index = read_gpn_network(path)
    data = graph_data(torch.zeros(int(edge_index.max()) + 1, 0), edge_index,
                      torch.full((int(edge_index.max()) + 1,), -1), "amazon-electronics")
    assert data.num_nodes == 42_318 and num_undirected_edges(data) == 43_556


@pytest.mark.parametrize("name", ["amazon-clothing", "amazon-electronics"])
def test_catalog_sha_of_gzip_copies_matches_their_content(data_root: Path, name: str) -> None:
    spec = _spec(name, "_network")
    packed = (data_root / spec.alternates[-1].path).read_bytes()
    assert hashlib.sha256(packed).hexdigest() == spec.alternates[-1].sha256
    assert hashlib.sha256(gzip.decompress(packed)).hexdigest() == spec.sha256


def test_partial_dataset_offline_names_the_missing_train_file(data_root: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_graph("amazon-clothing", root=data_root, download=False)
    message = str(err.value)
    assert "amazon-clothing_train.mat" in message
    assert str(data_root / "fsnc/amazon-clothing") in message
    assert "GPN_Graph-Few-shot/raw/master/few_shot_data/Amazon_clothing_train.mat" in message


def _write_gpn(folder: Path, name: str) -> dict[str, np.ndarray]:
    """A small dataset in GPN's format: 10 train+val classes, 4 test classes, 6 nodes each."""
    rng = np.random.default_rng(1)
    n = 14 * 6 + 2  # the last two nodes are in the network only
    labels = np.repeat(np.arange(14), 6)
    order = rng.permutation(14 * 6)
    feats = sp.random(n, 9, density=0.4, random_state=2, format="csc")
    src = rng.integers(0, n, 200)
    dst = rng.integers(0, n, 200)
    folder.mkdir(parents=True)
    with open(folder / f"{name}_network", "w") as f:
        f.writelines(f"{a}\t{b}\n{b}\t{a}\n" for a, b in zip(src, dst))
    for part, keep in (("train", labels[order] < 10), ("test", labels[order] >= 10)):
        ids = order[keep]
        scipy.io.savemat(folder / f"{name}_{part}.mat", {
            "Index": ids.reshape(1, -1), "Attributes": feats[ids],
            "Label": labels[ids].reshape(-1, 1).astype(np.float64)})
    return {"labels": labels, "features": feats.toarray(), "n": np.array(n)}


def test_gpn_path_on_files_in_its_format(tmp_path: Path) -> None:
    info = dataset_info("amazon-clothing")
    truth = _write_gpn(tmp_path / "fsnc/amazon-clothing", "amazon-clothing")
    local = dataclasses.replace(
        info, files=tuple(dataclasses.replace(s, sha256=None, alternates=()) for s in info.files),
        options={"split": {"kind": "gpn", "val": 3}})
    data, split = load_graph(local, root=tmp_path, download=False)
    n = int(truth["n"])
    assert data.num_nodes == n
    assert torch.equal(data.y[:-2], torch.from_numpy(truth["labels"]))
    assert data.y[-2:].tolist() == [-1, -1]
    assert torch.allclose(data.x[:-2], torch.from_numpy(truth["features"][:-2]).float())
    assert int(data.x[-2:].abs().sum()) == 0
    assert split.test == [10, 11, 12, 13]
    assert len(split.val) == 3 and sorted(split.train + split.val) == list(range(10))
    assert split.source == "gpn(seed=0)"
    again = load_graph(local, root=tmp_path, split_seed=0)[1]
    assert again == split
    assert any(load_graph(local, root=tmp_path, split_seed=s)[1].val != split.val
               for s in (1, 2, 3))


def test_bad_gpn_mat_is_refused(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "x_test.mat", {"Index": np.arange(3).reshape(1, -1),
                                               "Label": np.zeros((3, 1))})
    with pytest.raises(ValueError, match="Attributes"):
        read_gpn_mat(tmp_path / "x_test.mat")


def test_assemble_gpn_places_rows_and_refuses_conflicts() -> None:
    from fgsam.data.gpn_format import GPNPart

    a = GPNPart(torch.tensor([0, 3]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([5, 6]))
    b = GPNPart(torch.tensor([1]), torch.tensor([[7.0, 8.0]]), torch.tensor([9]))
    x, y = assemble_gpn(torch.tensor([[0, 4], [4, 0]]), [a, b])
    assert y.tolist() == [5, 9, -1, 6, -1]
    assert x.tolist() == [[1, 2], [7, 8], [0, 0], [3, 4], [0, 0]]
    assert repr(a) == "GPNPart(nodes=2, features=2, classes=2)"
    with pytest.raises(ValueError, match="two GPN parts"):
        assemble_gpn(torch.tensor([[0], [1]]), [a, a])
    wide = GPNPart(torch.tensor([2]), torch.zeros(1, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="feature widths"):
        assemble_gpn(torch.tensor([[0], [1]]), [a, wide])


def test_truncated_gpn_mat_and_bad_labels_name_the_file(data_root: Path, tmp_path: Path) -> None:
    real = (data_root / _spec("amazon-clothing", "_test.mat").alternates[-1].path).read_bytes()
    (tmp_path / "cut_test.mat.gz").write_bytes(real[:len(real) // 2])
    with pytest.raises(ValueError, match=r"cut_test.mat.gz: cannot be read as a GPN .mat file "
                                         r".*EOFError"):
        read_gpn_mat(tmp_path / "cut_test.mat.gz")
    scipy.io.savemat(tmp_path / "x_test.mat", {"Index": np.arange(4).reshape(1, -1),
                                               "Attributes": sp.csc_matrix((4, 2)),
                                               "Label": np.array([[0], [1.5], [-1], [2]])})
    with pytest.raises(ValueError, match=r"'Label' has 2 bad class ids \(first at entry 1: 1.5; "
                                         r"entry 2: -1\); each must be a non-negative integer"):
        read_gpn_mat(tmp_path / "x_test.mat")
