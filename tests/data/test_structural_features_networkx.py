"""structural_features against networkx as an independent oracle: degrees, clustering
coefficients, neighbour degrees and the normalised Laplacian's spectrum of a real graph
(Zachary's karate club) and of random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from fgsam.data.structural_features import structural_features


def _edge_index(graph: nx.Graph) -> torch.Tensor:
    pairs = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
    return torch.from_numpy(np.concatenate([pairs, pairs[:, ::-1]]).T.copy())


def _standardise(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / v.std() if v.std() > 0 else v - v.mean()


def _graphs() -> list[nx.Graph]:
    return [nx.karate_club_graph(),  # weighted in networkx: the weights are not used
            nx.gnp_random_graph(60, 0.08, seed=3),  # has isolated nodes
            nx.connected_watts_strogatz_graph(80, 6, 0.2, seed=1)]


@pytest.mark.parametrize("graph", _graphs(), ids=["karate", "gnp", "watts-strogatz"])
def test_degree_clustering_and_neighbour_columns_equal_networkx(graph: nx.Graph) -> None:
    n = graph.number_of_nodes()
    x = structural_features(_edge_index(graph), n).double().numpy()
    degree = np.array([graph.degree(v) for v in range(n)], dtype=np.float64)
    clustering = np.array([nx.clustering(graph, v) for v in range(n)])
    neighbour = np.array([np.mean([np.log1p(graph.degree(u)) for u in graph[v]])
                          if graph.degree(v) else 0.0 for v in range(n)])
    np.testing.assert_allclose(x[:, 0], _standardise(np.log1p(degree)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(x[:, 1], clustering, rtol=0, atol=1e-6)
    np.testing.assert_allclose(x[:, 2], _standardise(neighbour), rtol=0, atol=1e-5)


@pytest.mark.parametrize("graph", [_graphs()[0], _graphs()[2]], ids=["karate", "watts-strogatz"])
def test_spectral_columns_are_the_smallest_normalised_laplacian_eigenvectors(graph) -> None:
    n, k = graph.number_of_nodes(), 16
    x = structural_features(_edge_index(graph), n, num_eigenvectors=k).double().numpy()
    laplacian = nx.normalized_laplacian_matrix(graph, nodelist=range(n), weight=None).toarray()
    vectors = x[:, 3:] / np.sqrt(n)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(k), rtol=0, atol=1e-5)
    # the k smallest eigenvalues of L, in increasing order (the largest of 1 - L first)
    expected = np.sort(np.linalg.eigvalsh(laplacian))[:k]
    values = np.einsum("ij,ij->j", vectors, laplacian @ vectors)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(laplacian @ vectors, vectors * values, rtol=0, atol=1e-4)
    # the sign rule: each column's largest-magnitude entry is positive
    assert (vectors[np.abs(vectors).argmax(0), np.arange(k)] > 0).all()
