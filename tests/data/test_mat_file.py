"""read_mat and dense_float32: the .mat layer the attributed-network and GPN readers share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from fgsam.data.mat_file import dense_float32, read_mat


def test_read_mat_returns_the_arrays_and_names_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.mat"
    scipy.io.savemat(path, {"a": np.arange(3.0), "b": sp.csr_matrix(np.eye(2))})
    mat = read_mat(path, ("a", "b"), "a test file")
    assert np.array_equal(mat["a"].reshape(-1), np.arange(3.0)) and sp.issparse(mat["b"])
    with pytest.raises(ValueError, match=r"m.mat: missing keys \['c'\]; expected a/c"):
        read_mat(path, ("a", "c"), "a test file")


def test_read_mat_refuses_a_file_that_is_not_mat(tmp_path: Path) -> None:
    path = tmp_path / "bad.mat"
    path.write_bytes(b"not a MATLAB file")
    with pytest.raises(ValueError, match="bad.mat") as info:
        read_mat(path, ("a",), "a test file")
    assert "a test file" in str(info.value)


def test_dense_float32_of_sparse_and_dense_matrices() -> None:
    dense = np.array([[0, 1.5], [2, 0]])
    for matrix in (dense, sp.csr_matrix(dense), dense.astype(np.int64)):
        out = dense_float32(matrix)
        assert out.dtype == np.float32 and isinstance(out, np.ndarray)
        assert np.array_equal(out, dense.astype(np.float32) if matrix.dtype != np.int64
                              else dense.astype(np.int64).astype(np.float32))
