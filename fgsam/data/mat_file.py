"""Reading MATLAB ``.mat`` files: their arrays, refused in one line when unreadable or
lacking a key, and feature matrices made dense."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fgsam.data.file_errors import reading
from fgsam.data.files import open_file


def read_mat(path: str | os.PathLike[str], keys: tuple[str, ...],
             expected: str) -> dict[str, Any]:
    """The arrays of the ``.mat`` file ``path`` (``.gz`` read directly), which must hold
    every one of ``keys``.

    A truncated or undecodable file raises a one-line ``ValueError`` naming it and
    ``expected`` (what it should be); so does a missing key, naming the missing ones.

    Example:
        >>> mat = read_mat("attributed-mat/wiki.mat", ("network", "feature", "group"),
        ...                "a MATLAB .mat file")
    """
    import scipy.io

    with reading(path, expected), open_file(path) as f:
        mat = scipy.io.loadmat(f)
    missing = [k for k in keys if k not in mat]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected {'/'.join(keys)}")
    return mat


def dense_float32(matrix: Any) -> np.ndarray:
    """A sparse (SciPy) or dense matrix as a dense float32 array."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        return matrix.astype(np.float32).toarray()
    return np.asarray(matrix, dtype=np.float32)


__all__ = ["dense_float32", "read_mat"]
