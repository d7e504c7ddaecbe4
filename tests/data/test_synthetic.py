"""Synthetic contextual-SBM graphs: exact benchmark shapes, seeded, homophilous."""

from __future__ import annotations

import pytest
import torch

from fgsam.data import SHAPES, GraphShape, synthetic_graph


def _check_simple(data, symmetric: bool) -> None:
    row, col = data.edge_index
    n = data.num_nodes
    assert int((row == col).sum()) == 0
    keys = row * n + col
    assert torch.equal(keys, torch.unique(keys))  # sorted and without duplicates
    if symmetric:
        assert torch.equal(torch.sort(col * n + row).values, keys)


def test_corafull_shape_is_exact():
    data = synthetic_graph("corafull", seed=0)
    assert (data.num_nodes, data.num_edges) == (19_793, 126_842)
    assert data.x.is_sparse and tuple(data.x.shape) == (19_793, 8_710)
    assert int(data.y.max()) + 1 == 70 and data.y.unique().numel() == 70
    _check_simple(data, symmetric=True)


def test_arxiv_shape_is_exact_and_directed():
    data = synthetic_graph("ogbn-arxiv", seed=0)
    assert (data.num_nodes, data.num_edges) == (169_343, 1_166_243)
    assert not data.x.is_sparse and tuple(data.x.shape) == (169_343, 128)
    assert data.y.unique().numel() == 40
    _check_simple(data, symmetric=False)


def test_published_shapes():
    got = {k: (s.num_nodes, s.num_edges, s.num_features, s.num_classes) for k, s in SHAPES.items()}
    assert got == {
        "corafull": (19_793, 126_842, 8_710, 70),
        "dblp": (40_672, 288_270, 7_202, 137),
        "ogbn-arxiv": (169_343, 1_166_243, 128, 40),
        "ogbn-products": (2_449_029, 123_718_280, 100, 47),
    }


SMALL = GraphShape(2_000, 20_000, 32, 5)


def test_same_seed_same_graph_and_the_global_rng_is_untouched():
    state = torch.random.get_rng_state()
    a, b = synthetic_graph(SMALL, seed=3), synthetic_graph(SMALL, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    c = synthetic_graph(SMALL, seed=4)
    assert not torch.equal(a.edge_index, c.edge_index)


@pytest.mark.parametrize("homophily", [0.2, 0.9])
def test_edge_homophily_follows_the_parameter(homophily):
    data = synthetic_graph(SMALL, seed=0, homophily=homophily)
    row, col = data.edge_index
    measured = float((data.y[row] == data.y[col]).float().mean())
    # Inter-class draws land in the own class with probability 1/C as well.
    expected = homophily + (1 - homophily) / 5
    assert abs(measured - expected) < 0.03
    _check_simple(data, symmetric=True)


@pytest.mark.parametrize("sparse", [False, True])
def test_features_carry_the_class(sparse):
    shape = GraphShape(2_000, 20_000, 500, 5, sparse=sparse, feature_density=0.04)
    data = synthetic_graph(shape, seed=0)
    x = data.x.to_dense() if sparse else data.x
    if sparse:
        assert set(x.unique().tolist()) == {0.0, 1.0}
    train, test = torch.arange(0, 2_000, 2), torch.arange(1, 2_000, 2)
    means = torch.stack([x[train][data.y[train] == c].mean(0) for c in range(5)])
    pred = torch.cdist(x[test], means).argmin(1)
    assert (pred == data.y[test]).float().mean() > 0.8  # chance is 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": "cora-huge"}, "shape must be a GraphShape or one of"),
        ({"shape": SMALL, "homophily": 1.5}, "homophily must be in"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic_graph(**kwargs)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 10, 4, 2), "num_nodes must be an integer >= 1, got 0"),
        ((10, 11, 4, 2), "even num_edges"),
        ((10, 80, 4, 2), "too dense"),
        ((3, 2, 4, 5), "num_classes"),
    ],
)
def test_bad_shapes(args, match):
    with pytest.raises(ValueError, match=match):
        GraphShape(*args)


def test_repr_names_the_shape():
    assert repr(SHAPES["corafull"]).startswith("GraphShape(num_nodes=19793, num_edges=126842")
