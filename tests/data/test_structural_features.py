"""Structural node features for graphs published without features."""

from __future__ import annotations

import math

import torch
from torch.testing import assert_close

from fgsam.data.structural_features import structural_features


def _standardise(values: list[float]) -> torch.Tensor:
    v = torch.tensor(values, dtype=torch.float64)
    return (v - v.mean()) / v.std(unbiased=False)


def _graph(n: int, pairs: list[tuple[int, int]]) -> torch.Tensor:
    return torch.tensor([[a for a, b in pairs] + [b for a, b in pairs],
                         [b for a, b in pairs] + [a for a, b in pairs]])


def test_degree_clustering_and_neighbour_columns_by_hand() -> None:
    # triangle 0-1-2 with a pendant node 3 on node 0
    x = structural_features(_graph(4, [(0, 1), (1, 2), (0, 2), (0, 3)]), 4)
    log = math.log
    assert_close(x[:, 0].double(), _standardise([log(4), log(3), log(3), log(2)]),
                 rtol=1e-6, atol=1e-6)
    assert_close(x[:, 1].double(), torch.tensor([1 / 3, 1.0, 1.0, 0.0], dtype=torch.float64),
                 rtol=1e-6, atol=1e-6)
    neighbour = [(log(3) + log(3) + log(2)) / 3, (log(4) + log(3)) / 2,
                 (log(4) + log(3)) / 2, log(4)]
    assert_close(x[:, 2].double(), _standardise(neighbour), rtol=1e-6, atol=1e-6)


def test_spectral_columns_are_eigenvectors_of_the_normalised_adjacency() -> None:
    pairs = [(i, (i + 1) % 12) for i in range(12)] + [(0, 6), (3, 9), (1, 5)]
    n = 12
    x = structural_features(_graph(n, pairs), n, num_eigenvectors=4).double()
    assert x.shape == (n, 7)
    adj = torch.zeros(n, n, dtype=torch.float64)
    for a, b in pairs:
        adj[a, b] = adj[b, a] = 1.0
    d = adj.sum(1).rsqrt()
    norm = d[:, None] * adj * d[None, :]
    vectors = x[:, 3:] / math.sqrt(n)
    for j in range(4):
        v = vectors[:, j]
        value = v @ norm @ v
        assert_close(norm @ v, value * v, rtol=0, atol=1e-5)
        assert v[v.abs().argmax()] > 0  # sign convention
    assert_close(vectors.t() @ vectors, torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-5)
    top = torch.linalg.eigvalsh(norm).flip(0)[:4]
    assert_close(torch.stack([v @ norm @ v for v in vectors.t()]), top, rtol=0, atol=1e-5)


def test_isolated_nodes_and_determinism() -> None:
    edges = _graph(8, [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5)])  # nodes 6, 7 isolated
    a = structural_features(edges, 8, num_eigenvectors=3)
    assert torch.isfinite(a).all()
    assert a[6:, 1].tolist() == [0.0, 0.0]
    assert torch.equal(a, structural_features(edges, 8, num_eigenvectors=3))


def test_large_graphs_use_lanczos_and_give_eigenvectors() -> None:
    import numpy as np

    from fgsam.data.structural_features import DENSE_LIMIT

    n = DENSE_LIMIT + 200
    rng = np.random.default_rng(0)
    pairs = [(i, (i + 1) % n) for i in range(n)]
    pairs += [(int(a), int(b)) for a, b in rng.integers(0, n, (2 * n, 2)) if a != b]
    edges = torch.unique(_graph(n, pairs), dim=1)
    x = structural_features(edges, n, num_eigenvectors=4).double()
    assert torch.equal(x.float(), structural_features(edges, n, num_eigenvectors=4))
    import scipy.sparse as sp

    adj = sp.csr_matrix((np.ones(edges.size(1)), edges.numpy()), shape=(n, n))
    d = torch.from_numpy(np.asarray(adj.sum(1)).ravel()).rsqrt()
    vectors = x[:, 3:] / math.sqrt(n)
    sv = d[:, None] * torch.from_numpy(adj @ (d[:, None] * vectors).numpy())
    values = (vectors * sv).sum(0)
    assert_close(sv, vectors * values, rtol=0, atol=1e-4)
    assert (values[:-1] >= values[1:]).all() and abs(float(values[0]) - 1.0) < 1e-6
