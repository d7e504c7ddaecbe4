"""neighbor_loader: PyG's NeighborLoader where it can sample, fgsam's NeighborSampler else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fgsam.data import GraphShape, synthetic_graph
from fgsam.data.neighbor_loader import BACKENDS, neighbor_loader, pyg_sampler_available
from fgsam.data.neighbor_sampler import NeighborSampler

needs_pyg = pytest.mark.skipif(not pyg_sampler_available(),
                               reason="PyG's NeighborLoader needs pyg-lib or torch-sparse")
without_pyg = pytest.mark.skipif(pyg_sampler_available(), reason="pyg-lib or torch-sparse "
                                 "is installed")


def graph():
    return synthetic_graph(GraphShape(120, 900, 4, 3), seed=2)


def test_backends():
    assert BACKENDS == ("auto", "fgsam", "pyg")


def test_fgsam_backend_is_the_sampler_with_the_arguments_passed_on():
    data = graph()
    loader = neighbor_loader(data, [3, 2], input_nodes=torch.arange(50), batch_size=8,
                             shuffle=True, drop_last=True, seed=6, rank=1, world_size=2,
                             backend="fgsam")
    assert isinstance(loader, NeighborSampler)
    assert (loader.batch_size, loader.shuffle, loader.drop_last) == (8, True, True)
    assert (loader.seed, loader.rank, loader.world_size, len(loader)) == (6, 1, 2, 3)
    same = NeighborSampler(data, [3, 2], torch.arange(50), 8, True, True, 6, rank=1,
                           world_size=2)
    assert all(torch.equal(a.n_id, b.n_id) for a, b in zip(loader, same))


def test_auto_takes_fgsam_for_features_on_disk():
    data = graph()
    features = np.asarray(data.x)
    loader = neighbor_loader(data, [3], batch_size=30, features=features)
    assert isinstance(loader, NeighborSampler) and loader.features is features


@without_pyg
def test_auto_takes_fgsam_without_pyg_lib_or_torch_sparse():
    loader = neighbor_loader(graph(), [3], batch_size=30, num_workers=0)
    assert isinstance(loader, NeighborSampler) and len(loader) == 4


@without_pyg
def test_pyg_backend_without_its_sampler_says_what_to_install():
    with pytest.raises(ImportError, match="backend='pyg' needs pyg-lib or torch-sparse.*"
                                          "install one, or use backend='fgsam'"):
        neighbor_loader(graph(), [3], backend="pyg")


@needs_pyg
def test_pyg_backend_gives_every_rank_as_many_seeds():
    from torch_geometric.loader import NeighborLoader

    data = graph()
    loaders = [neighbor_loader(data, [3], input_nodes=torch.arange(101), batch_size=10,
                               rank=r, world_size=3, backend="pyg") for r in range(3)]
    assert all(isinstance(loader, NeighborLoader) for loader in loaders)
    shards = [torch.cat([b.n_id[: b.batch_size] for b in loader]) for loader in loaders]
    assert [s.numel() for s in shards] == [33, 33, 33]
    assert torch.cat(shards).unique().numel() == 99


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"backend": "dgl"}, r"backend must be one of \('auto', 'fgsam', 'pyg'\), got 'dgl'"),
    ({"seed": "0"}, "seed must be an int, got '0'"),
    ({"backend": "pyg", "features": np.zeros((120, 4))},
     "features .* needs backend='fgsam' or 'auto': PyG's NeighborLoader reads data.x"),
    ({"world_size": 200}, "world_size=200 is larger than the 120 seed nodes of input_nodes"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        neighbor_loader(graph(), [3], **kwargs)
