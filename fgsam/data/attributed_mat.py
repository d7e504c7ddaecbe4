"""Reader for attributed networks in MATLAB ``.mat`` files (Wiki, BlogCatalog)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from fgsam.data.files import open_file


def read_attributed_mat(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from a ``.mat`` with keys ``network`` (N×N sparse adjacency),
    ``feature`` (N×F) and ``group`` (N×C one-hot labels).

    Labels are the ``group`` column of each node, renumbered ``0..C'-1`` over the columns
    that are used (Wiki's ``group`` has 19 columns, two of them empty: 17 classes).
    """
    import scipy.io
    import scipy.sparse as sp

    with open_file(path) as f:
        mat = scipy.io.loadmat(f)
    missing = [k for k in ("network", "feature", "group") if k not in mat]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected network/feature/group")
    coo = sp.coo_matrix(mat["network"])
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    feature = mat["feature"]
    dense = (feature.astype(np.float32).toarray() if sp.issparse(feature)
             else np.asarray(feature, dtype=np.float32))
    group = sp.csr_matrix(mat["group"])
    group.eliminate_zeros()
    if np.any(np.diff(group.indptr) != 1):
        raise ValueError(f"{path}: 'group' must have exactly one label per node")
    _, labels = np.unique(group.indices, return_inverse=True)
    return (torch.from_numpy(dense), edge_index,
            torch.from_numpy(labels.astype(np.int64)))


__all__ = ["read_attributed_mat"]
