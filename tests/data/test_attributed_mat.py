"""The attributed-network .mat reader (Wiki, BlogCatalog layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from fgsam.data.attributed_mat import read_attributed_mat


def test_labels_are_renumbered_over_used_columns(tmp_path: Path) -> None:
    # 4 nodes, 5 label columns of which 1 and 3 are empty (as in Wiki's 'group')
    group = sp.csc_matrix(np.eye(5)[[0, 2, 4, 2]])
    network = sp.csc_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0.]]))
    feature = sp.csc_matrix(np.arange(12, dtype=float).reshape(4, 3))
    scipy.io.savemat(tmp_path / "g.mat", {"network": network, "feature": feature,
                                          "group": group})
    x, edge_index, y = read_attributed_mat(tmp_path / "g.mat")
    assert y.tolist() == [0, 1, 2, 1]
    assert x.tolist() == np.arange(12, dtype=np.float32).reshape(4, 3).tolist()
    assert sorted(map(tuple, edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_missing_keys_and_multi_labels(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"network": sp.eye(2, format="csc")})
    with pytest.raises(ValueError, match="feature"):
        read_attributed_mat(tmp_path / "a.mat")
    scipy.io.savemat(tmp_path / "b.mat", {"network": sp.csc_matrix((2, 2)),
                                          "feature": np.ones((2, 1)),
                                          "group": sp.csc_matrix(np.ones((2, 2)))})
    with pytest.raises(ValueError, match="exactly one label"):
        read_attributed_mat(tmp_path / "b.mat")


def test_truncated_mat_and_unlabelled_nodes_are_named(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "g.mat", {"network": sp.csc_matrix((4, 4)),
                                          "feature": np.ones((4, 2)),
                                          "group": sp.csc_matrix(np.eye(3)[[0, 1, 2, 0]])})
    data = (tmp_path / "g.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[:len(data) // 3])
    with pytest.raises(ValueError, match=r"cut.mat: cannot be read as a MATLAB .mat file"):
        read_attributed_mat(tmp_path / "cut.mat")
    group = np.eye(3)[[0, 1, 2, 0]]
    group[1] = 0
    group[3, 1] = 1
    scipy.io.savemat(tmp_path / "b.mat", {"network": sp.csc_matrix((4, 4)),
                                          "feature": np.ones((4, 2)),
                                          "group": sp.csc_matrix(group)})
    with pytest.raises(ValueError, match=r"2 of 4 nodes have none or several \(first at node 1: "
                                         r"0; node 3: 2\)"):
        read_attributed_mat(tmp_path / "b.mat")
