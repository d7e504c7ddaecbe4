"""Reader for the "SparseGraph" ``.npz`` format (gnn-benchmark, graph2gauss: CoraFull, Cora-ML)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from fgsam.data.file_errors import reading
from fgsam.data.files import open_file

_PARTS = ("data", "indices", "indptr", "shape")
_EXPECTED = "a SparseGraph .npz (a zip of numpy arrays: adj_*, attr_*, labels)"


def read_sparse_graph_npz(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from a SparseGraph ``.npz``: CSR adjacency and attributes.

    Both key layouts are read: ``adj_data/adj_indices/adj_indptr/adj_shape`` (gnn-benchmark's
    ``cora_full.npz``) and ``adj_matrix.data/...`` (``cora_ml.npz``). Object-typed entries
    (metadata) are never loaded, so no pickle is involved. A truncated or undecodable file
    raises a one-line ``ValueError`` naming it, as do missing arrays and non-integer labels.

    Example:
        >>> x, edge_index, y = read_sparse_graph_npz("gnn-benchmark-npz/cora_ml.npz")
    """
    import scipy.sparse as sp

    with open_file(path) as f:
        with reading(path, _EXPECTED):
            npz = np.load(f, allow_pickle=False)
            files = list(npz.files)
        with npz:
            keys = {(prefix, part): _key(files, prefix, part, path)
                    for prefix in ("adj", "attr") for part in _PARTS}
            if "labels" not in files:
                raise ValueError(f"{path}: no 'labels' array (keys: {', '.join(files)})")
            with reading(path, _EXPECTED):
                arrays = {k: npz[key] for k, key in keys.items()}
                labels = npz["labels"]
    with reading(path, _EXPECTED + " whose CSR arrays agree"):
        adj = sp.csr_matrix(_csr_parts(arrays, "adj"), shape=_shape(arrays, "adj"))
        attr = sp.csr_matrix(_csr_parts(arrays, "attr"), shape=_shape(arrays, "attr"))
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "iub":
        # a float or string label would otherwise be cast to int silently
        labels = _integer_labels(labels, path)
    coo = adj.tocoo()
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    x = torch.from_numpy(attr.astype(np.float32).toarray())
    return x, edge_index, torch.from_numpy(labels.astype(np.int64))


def _key(files: list[str], prefix: str, part: str, path: object) -> str:
    for key in (f"{prefix}_{part}", f"{prefix}_matrix.{part}"):
        if key in files:
            return key
    raise ValueError(f"{path}: no {prefix}_{part} or {prefix}_matrix.{part} array; this is not "
                     f"a SparseGraph .npz (keys: {', '.join(files)})")


def _csr_parts(arrays: dict[tuple[str, str], np.ndarray], prefix: str) -> tuple[np.ndarray, ...]:
    return tuple(arrays[prefix, part] for part in ("data", "indices", "indptr"))


def _shape(arrays: dict[tuple[str, str], np.ndarray], prefix: str) -> tuple[int, int]:
    rows, cols = (int(v) for v in arrays[prefix, "shape"])
    return rows, cols


def _integer_labels(labels: np.ndarray, path: object) -> np.ndarray:
    if labels.dtype.kind != "f":
        raise ValueError(f"{path}: 'labels' has dtype {labels.dtype}; expected integer class ids")
    bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
    if bad.size:
        first = ", ".join(f"node {i}: {float(labels[i]):g}" for i in bad[:3].tolist())
        raise ValueError(f"{path}: 'labels' has {bad.size} non-integer "
                         f"entr{'y' if bad.size == 1 else 'ies'} (first at {first}); "
                         f"expected integer class ids (-1 for an unlabelled node)")
    return labels


__all__ = ["read_sparse_graph_npz"]
