"""The Planetoid reader on the real files, from a read-only folder."""

from __future__ import annotations

from pathlib import Path

from fgsam.data.graph_data import graph_data, num_undirected_edges
from fgsam.data.planetoid import read_planetoid


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
