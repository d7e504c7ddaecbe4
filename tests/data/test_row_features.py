"""Node features on disk: memmap_features, read_rows and NeighborSampler(features=...)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from fgsam.data import GraphShape, synthetic_graph
from fgsam.data.neighbor_sampler import NeighborSampler
from fgsam.data.row_features import check_features, memmap_features, read_rows


def graph() -> Data:
    return synthetic_graph(GraphShape(200, 1500, 5, 3), seed=1)


def write(path, array: np.ndarray) -> str:
    array.tofile(path)
    return str(path)


class IncreasingRows:
    """An h5py-like dataset: a ``.shape``, and rows read only by increasing indices."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.reads = array, array.shape, []

    def __getitem__(self, rows):
        rows = np.asarray(rows)
        if np.any(np.diff(rows) <= 0):
            raise TypeError("indexing elements must be in increasing order")
        self.reads.append(rows)
        return self.array[rows]


def test_memmap_features_open_the_file_rows_as_written(tmp_path):
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    features = memmap_features(write(tmp_path / "x.f32", x), 7, 3)
    assert isinstance(features, np.memmap) and features.shape == (7, 3)
    assert np.array_equal(np.asarray(features), x)
    halves = memmap_features(write(tmp_path / "x.f16", x.astype(np.float16)), 7, 3, "float16")
    assert halves.dtype == np.float16
    created = memmap_features(tmp_path / "new.f32", 4, 2, mode="w+")
    created[:] = 1.5
    created.flush()
    assert np.array_equal(np.fromfile(tmp_path / "new.f32", np.float32), np.full(8, 1.5))


def test_read_rows_reads_sorted_distinct_rows_and_returns_them_in_index_order():
    x = np.arange(40, dtype=np.float64).reshape(10, 4)
    index = torch.tensor([7, 2, 9, 2, 0])
    disk = IncreasingRows(x)
    rows = read_rows(disk, index)
    assert [r.tolist() for r in disk.reads] == [[0, 2, 7, 9]]  # once each, increasing
    assert rows.dtype == torch.float64 and torch.equal(rows, torch.from_numpy(x)[index])
    ints = read_rows(np.arange(6, dtype=np.uint8).reshape(3, 2), torch.tensor([2, 0]))
    assert ints.dtype == torch.float32 and ints.tolist() == [[4.0, 5.0], [0.0, 1.0]]
    tensor = read_rows(torch.arange(6).view(3, 2), torch.tensor([1]))
    assert tensor.dtype == torch.float32 and tensor.tolist() == [[2.0, 3.0]]


def test_a_sampler_over_a_memmap_file_gives_the_in_memory_features(tmp_path):
    data = graph()
    features = memmap_features(write(tmp_path / "x.f32", data.x.numpy()), 200, 5)
    no_x = Data(edge_index=data.edge_index, y=data.y, num_nodes=200)
    kwargs = {"batch_size": 32, "shuffle": True, "generator": 3, "rank": 1, "world_size": 2}
    disk = list(NeighborSampler(no_x, [4, 2], features=features, **kwargs))
    memory = list(NeighborSampler(data, [4, 2], **kwargs))
    assert len(disk) == len(memory) == 4
    for a, b in zip(disk, memory):
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.edge_index, b.edge_index)
        assert a.x.dtype == torch.float32 and torch.equal(a.x, b.x)
        assert torch.equal(a.y, b.y)
    h5_like = NeighborSampler(no_x, [4, 2], features=IncreasingRows(data.x.numpy()), **kwargs)
    assert all(torch.equal(a.x, b.x) for a, b in zip(h5_like, memory))
    workers = NeighborSampler(no_x, [4, 2], features=features, num_workers=2, **kwargs)
    assert all(torch.equal(a.x, b.x) for a, b in zip(workers, memory))


def test_features_take_the_place_of_data_x():
    data = graph()
    other = torch.rand(200, 2, dtype=torch.float64)
    batch = next(iter(NeighborSampler(data, [3], batch_size=10, features=other)))
    assert torch.equal(batch.x, other[batch.n_id])
    assert repr(NeighborSampler(data, [3], features=other.numpy())).count(
        "features=ndarray(200, 2)") == 1


def test_a_pickled_sampler_reopens_its_memmap_instead_of_copying_the_file(tmp_path):
    data = graph()
    big = np.zeros((200, 2000), dtype=np.float32)
    big[:, :5] = data.x.numpy()
    features = memmap_features(write(tmp_path / "big.f32", big), 200, 2000)
    sampler = NeighborSampler(data, [2], batch_size=50, features=features)
    payload = pickle.dumps(sampler)
    assert len(payload) < big.nbytes // 4
    copy = pickle.loads(payload)
    assert isinstance(copy.features, np.memmap) and copy.features.filename == features.filename
    assert all(torch.equal(a.x, b.x) for a, b in zip(copy, sampler))
    view = NeighborSampler(data, [2], features=features[:, :5])  # a view: pickled as values
    assert np.array_equal(pickle.loads(pickle.dumps(view)).features, data.x.numpy())


def test_a_file_of_the_wrong_size_is_named_with_both_sizes_and_the_shape_it_fits(tmp_path):
    path = write(tmp_path / "x.f32", np.zeros((6, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=(
            rf"features file {path} has 72 bytes, expected 96 = 8 nodes x 3 features x 4 "
            rf"bytes \(float32\); it would fit shape \(6, 3\)")):
        memmap_features(path, 8, 3)
    with pytest.raises(ValueError, match=r"it holds 18 float32 values, not a whole number of "
                                         r"rows of 4"):
        memmap_features(path, 8, 4)
    with pytest.raises(ValueError, match="not a whole number of float64 values"):
        memmap_features(write(tmp_path / "odd", np.zeros(3, dtype=np.float32)), 1, 1, "float64")
    with pytest.raises(ValueError, match="the file is empty"):
        memmap_features(write(tmp_path / "empty", np.zeros(0, dtype=np.float32)), 1, 1)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"num_nodes": 0}, ValueError, "num_nodes must be a positive int, got 0"),
    ({"num_features": 2.0}, ValueError, "num_features must be a positive int, got 2.0"),
    ({"dtype": "floaty"}, ValueError, "dtype must be a NumPy dtype such as 'float32', got "
                                      "'floaty'"),
    ({"mode": "a"}, ValueError, r"mode must be one of \('r', 'r\+', 'c', 'w\+'\), got 'a'"),
    ({"path": "missing.f32"}, FileNotFoundError, "features file .*missing.f32 does not exist"),
])
def test_bad_memmap_arguments_are_named(tmp_path, kwargs, error, message):
    path = write(tmp_path / "x.f32", np.zeros((2, 2), dtype=np.float32))
    args = {"path": path, "num_nodes": 2, "num_features": 2, **kwargs}
    if kwargs.get("path"):
        args["path"] = tmp_path / kwargs["path"]
    with pytest.raises(error, match=message):
        memmap_features(**args)


def test_features_with_another_node_count_or_no_shape_are_refused():
    with pytest.raises(ValueError, match=r"features has 199 rows \(shape \(199, 5\)\) but the "
                                         r"graph has 200 nodes \(data.num_nodes\)"):
        NeighborSampler(graph(), [3], features=np.zeros((199, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="features must be an array with one row per node"):
        check_features([[0.0]] * 200, 200)
