"""Reader for the "SparseGraph" ``.npz`` format (gnn-benchmark, graph2gauss: CoraFull, Cora-ML)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from fgsam.data.files import open_file


def read_sparse_graph_npz(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from a SparseGraph ``.npz``: CSR adjacency and attributes.

    Both key layouts are read: ``adj_data/adj_indices/adj_indptr/adj_shape`` (gnn-benchmark's
    ``cora_full.npz``) and ``adj_matrix.data/...`` (``cora_ml.npz``). Object-typed entries
    (metadata) are never loaded, so no pickle is involved.
    """
    import scipy.sparse as sp

    with open_file(path) as f, np.load(f, allow_pickle=False) as npz:
        adj = sp.csr_matrix(_csr_parts(npz, "adj", path), shape=_shape(npz, "adj", path))
        attr = sp.csr_matrix(_csr_parts(npz, "attr", path), shape=_shape(npz, "attr", path))
        if "labels" not in npz.files:
            raise ValueError(f"{path}: no 'labels' array (keys: {', '.join(npz.files)})")
        labels = np.asarray(npz["labels"], dtype=np.int64)
    coo = adj.tocoo()
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    x = torch.from_numpy(attr.astype(np.float32).toarray())
    return x, edge_index, torch.from_numpy(labels)


def _key(npz: np.lib.npyio.NpzFile, prefix: str, part: str, path: object) -> str:
    for key in (f"{prefix}_{part}", f"{prefix}_matrix.{part}"):
        if key in npz.files:
            return key
    raise ValueError(f"{path}: no {prefix}_{part} or {prefix}_matrix.{part} array; this is not "
                     f"a SparseGraph .npz (keys: {', '.join(npz.files)})")


def _csr_parts(npz: np.lib.npyio.NpzFile, prefix: str, path: object) -> tuple[np.ndarray, ...]:
    return tuple(npz[_key(npz, prefix, part, path)] for part in ("data", "indices", "indptr"))


def _shape(npz: np.lib.npyio.NpzFile, prefix: str, path: object) -> tuple[int, int]:
    rows, cols = (int(v) for v in npz[_key(npz, prefix, "shape", path)])
    return rows, cols


__all__ = ["read_sparse_graph_npz"]
