"""Shared few-shot fixtures: a small seeded graph with class structure, and task builders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from fgsam.data.class_split import ClassSplit
from fgsam.fewshot.episode import Episode


def make_graph(num_classes: int = 7, per_class: int = 20, features: int = 12,
               seed: int = 0, dtype: torch.dtype = torch.float32) -> Data:
    """A contextual stochastic block model: class-dependent Gaussian features, mostly
    intra-class edges, a few isolated nodes."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(per_class)
    n = y.numel()
    means = torch.randn(num_classes, features, generator=gen, dtype=torch.float64) * 0.4
    x = means[y] + torch.randn(n, features, generator=gen, dtype=torch.float64)
    src = torch.randint(0, n, (6 * n,), generator=gen)
    partner = torch.randint(0, per_class, (6 * n,), generator=gen) + y[src] * per_class
    flip = torch.rand(6 * n, generator=gen) < 0.5
    dst = torch.where(flip, torch.randint(0, n, (6 * n,), generator=gen), partner)
    keep = (src != dst) & (src >= 3) & (dst >= 3)  # nodes 0..2 stay isolated
    edge_index = to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n)
    return Data(x=x.to(dtype), edge_index=edge_index, y=y)


def make_episode(data: Data, classes: list[int], k: int, q: int, seed: int = 0) -> Episode:
    """A class-major episode over ``classes`` with ``k`` support and ``q`` query nodes each."""
    gen = torch.Generator().manual_seed(seed)
    support, query = [], []
    for c in classes:
        nodes = (data.y == c).nonzero().view(-1)
        nodes = nodes[torch.randperm(nodes.numel(), generator=gen)[: k + q]]
        support.append(nodes[:k])
        query.append(nodes[k:])
    ways = torch.arange(len(classes))
    return Episode(torch.tensor(classes), torch.cat(support), torch.cat(query),
                   ways.repeat_interleave(k), ways.repeat_interleave(q))


@pytest.fixture()
def graph_factory():
    """``make_graph``, for tests that need their own graph."""
    return make_graph


@pytest.fixture()
def episode_factory():
    """``make_episode``, for tests that build their own tasks."""
    return make_episode


@pytest.fixture()
def toy() -> Data:
    return make_graph()


@pytest.fixture()
def toy_split() -> ClassSplit:
    return ClassSplit([0, 1, 2], [3, 4], [5, 6], source="custom")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny tensors: thread hand-offs cost more than they save on a shared 2-core runner.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
