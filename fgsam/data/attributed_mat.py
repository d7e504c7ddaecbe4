"""Reader for attributed networks in MATLAB ``.mat`` files (Wiki, BlogCatalog)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from fgsam.data.file_errors import reading
from fgsam.data.mat_file import dense_float32, read_mat

_EXPECTED = "a MATLAB .mat file with arrays network (N×N), feature (N×F) and group (N×C)"


def read_attributed_mat(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from a ``.mat`` with keys ``network`` (N×N sparse adjacency),
    ``feature`` (N×F) and ``group`` (N×C one-hot labels).

    Labels are the ``group`` column of each node, renumbered ``0..C'-1`` over the columns
    that are used (Wiki's ``group`` has 19 columns, two of them empty: 17 classes). A
    truncated or undecodable file raises a one-line ``ValueError`` naming it.

    Example:
        >>> x, edge_index, y = read_attributed_mat("attributed-mat/wiki.mat")
    """
    import scipy.sparse as sp

    mat = read_mat(path, ("network", "feature", "group"), _EXPECTED)
    with reading(path, _EXPECTED + " of numbers"):
        coo = sp.coo_matrix(mat["network"])
        dense = dense_float32(mat["feature"])
        group = sp.csr_matrix(mat["group"])
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    group.eliminate_zeros()
    per_node = np.diff(group.indptr)
    bad = np.flatnonzero(per_node != 1)
    if bad.size:
        first = "; ".join(f"node {i}: {per_node[i]}" for i in bad[:3].tolist())
        raise ValueError(f"{path}: 'group' must have exactly one label per node, but "
                         f"{bad.size} of {per_node.size} nodes have none or several "
                         f"(first at {first})")
    _, labels = np.unique(group.indices, return_inverse=True)
    return (torch.from_numpy(dense), edge_index,
            torch.from_numpy(labels.astype(np.int64)))


__all__ = ["read_attributed_mat"]
