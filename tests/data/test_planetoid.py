"""The Planetoid reader on the real files, from a read-only folder."""

from __future__ import annotations

from pathlib import Path

from fgsam.data.graph_data import graph_data, num_undirected_edges
from fgsam.data.planetoid import read_planetoid, read_planetoid_public_split


def test_citeseer_keeps_isolated_test_nodes_and_writes_nothing(data_root: Path) -> None:
    folder = data_root / "planetoid/CiteSeer/raw"
    before = sorted(p.name for p in folder.parent.iterdir())
    x, edge_index, y = read_planetoid(folder, "citeseer")
    data = graph_data(x, edge_index, y, "citeseer")
    assert data.num_nodes == 3327 and num_undirected_edges(data) == 4552
    assert x.shape == (3327, 3703) and int(y.unique().numel()) == 6
    degree = data.edge_index[0].bincount(minlength=data.num_nodes)
    assert int((degree == 0).sum()) == 48  # isolated nodes, as published
    assert sorted(p.name for p in folder.parent.iterdir()) == before  # no processed/ written


def test_cora(data_root: Path) -> None:
    x, edge_index, y = read_planetoid(data_root / "planetoid/Cora/raw", "cora")
    data = graph_data(x, edge_index, y, "cora")
    assert data.num_nodes == 2708 and num_undirected_edges(data) == 5278
    assert x.shape == (2708, 1433) and sorted(y.unique().tolist()) == list(range(7))


def test_a_truncated_file_is_named(data_root: Path, tmp_path: Path) -> None:
    import shutil

    import pytest

    shutil.copytree(data_root / "planetoid/Cora/raw", tmp_path / "raw")
    path = tmp_path / "raw/ind.cora.ally"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"raw/ind.cora.ally: cannot be read as a Planetoid "
                                         r"pickle .*\((EOFError|UnpicklingError)"):
        read_planetoid(tmp_path / "raw", "cora")


def test_public_split_matches_pyg_planetoid(planetoid_root: Path) -> None:
    from torch_geometric.datasets import Planetoid

    for folder, prefix, num_train in (("Cora", "cora", 140), ("CiteSeer", "citeseer", 120)):
        train, val, test = read_planetoid_public_split(planetoid_root / folder / "raw", prefix)
        assert (train.numel(), val.numel(), test.numel()) == (num_train, 500, 1000)
        pyg = Planetoid(str(planetoid_root), folder, split="public")[0]  # writes processed/
        for ids, mask in ((train, pyg.train_mask), (val, pyg.val_mask), (test, pyg.test_mask)):
            assert ids.tolist() == mask.nonzero().reshape(-1).tolist()


def test_public_split_names_a_truncated_index(data_root: Path, tmp_path: Path) -> None:
    import shutil

    import pytest

    shutil.copytree(data_root / "planetoid/Cora/raw", tmp_path / "raw")
    path = tmp_path / "raw/ind.cora.y"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=r"raw/ind.cora.y: cannot be read as a Planetoid pickle"):
        read_planetoid_public_split(tmp_path / "raw", "cora")
