"""Node features computed from the graph alone, for datasets published without features."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Number of spectral coordinates in :func:`structural_features`.
NUM_EIGENVECTORS = 16
#: Up to this many nodes the eigenvectors come from a dense solver, above it from ARPACK.
DENSE_LIMIT = 3000
#: What :func:`structural_features` computes, recorded as ``data.features``.
STRUCTURAL_FEATURES = (
    f"structural: [log-degree, local clustering coefficient, mean neighbour log-degree] "
    f"(each standardised) + {NUM_EIGENVECTORS} leading eigenvectors of D^-1/2 A D^-1/2 "
    f"(scaled by sqrt(N), sign fixed so the largest entry is positive)"
)


def structural_features(edge_index: Tensor, num_nodes: int,
                        num_eigenvectors: int = NUM_EIGENVECTORS) -> Tensor:
    """Float32 ``[N, 3 + num_eigenvectors]`` features from an undirected graph's structure.

    Columns: standardised ``log(1 + degree)``, local clustering coefficient, standardised
    mean neighbour ``log(1 + degree)``, then the spectral embedding: the eigenvectors of the
    ``num_eigenvectors`` largest eigenvalues of the normalised adjacency (the smallest of
    the normalised Laplacian), which place nodes of one community close together.
    Deterministic: graphs up to ``DENSE_LIMIT`` nodes use a dense eigensolver, larger ones
    Lanczos (ARPACK) from a fixed start vector; each eigenvector's sign is chosen so its
    largest-magnitude entry is positive.

    Args:
        edge_index (torch.Tensor): undirected edges (both directions), ``[2, E]``.
        num_nodes (int): number of nodes ``N``.
        num_eigenvectors (int, optional): spectral coordinates. (default: ``16``)
    """
    import scipy.sparse as sp

    row, col = edge_index.cpu().numpy()
    adj = sp.csr_matrix((np.ones(row.size), (row, col)), shape=(num_nodes, num_nodes))
    adj.data[:] = 1.0  # duplicates summed by the constructor count once
    deg = np.asarray(adj.sum(1)).ravel()
    log_deg = np.log1p(deg)
    triangles = np.asarray(adj.multiply(adj @ adj).sum(1)).ravel() / 2
    pairs = deg * (deg - 1) / 2
    clustering = np.divide(triangles, pairs, out=np.zeros_like(triangles), where=pairs > 0)
    neighbour = np.divide(adj @ log_deg, deg, out=np.zeros_like(deg), where=deg > 0)
    columns = [_standardise(log_deg), clustering, _standardise(neighbour)]
    spectral = _spectral_embedding(adj, deg, num_eigenvectors)
    return torch.from_numpy(np.column_stack([*columns, spectral]).astype(np.float32))


def _standardise(v: np.ndarray) -> np.ndarray:
    std = v.std()
    return (v - v.mean()) / std if std > 0 else v - v.mean()


def _spectral_embedding(adj, deg: np.ndarray, k: int) -> np.ndarray:
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    n = adj.shape[0]
    k = min(k, n - 2)
    if k < 1:
        return np.zeros((n, 0))
    inv_sqrt = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
    norm_adj = sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt)
    if n <= DENSE_LIMIT:
        # small graphs: exact LAPACK (ARPACK restarts randomly when its Krylov space is exhausted)
        values, vectors = np.linalg.eigh(norm_adj.toarray())
        values, vectors = values[-k:], vectors[:, -k:]
    else:
        start = np.random.default_rng(0).standard_normal(n)  # fixed start: same vectors each run
        values, vectors = eigsh(norm_adj, k=k, which="LA", v0=start)
    vectors = vectors[:, np.argsort(-values)] * np.sqrt(n)
    signs = np.sign(vectors[np.abs(vectors).argmax(0), np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1.0, signs)


__all__ = ["DENSE_LIMIT", "NUM_EIGENVECTORS", "STRUCTURAL_FEATURES", "structural_features"]
