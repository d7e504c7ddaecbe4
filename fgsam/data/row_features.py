"""Node features that stay on disk: a raw row-major file opened as a NumPy memmap, and the
reading of a batch's rows from it."""

from __future__ import annotations

import mmap
import os

import numpy as np
import torch
from torch import Tensor

MODES = ("r", "r+", "c", "w+")


def memmap_features(path: str | os.PathLike, num_nodes: int, num_features: int,
                    dtype: str | np.dtype = "float32", mode: str = "r") -> np.memmap:
    r"""The node features of a raw row-major file (``num_nodes`` rows of ``num_features``
    values of ``dtype``, no header, as written by ``array.tofile(path)``), opened as an
    :class:`numpy.memmap`: nothing is read until rows are indexed, so a feature matrix
    larger than memory can feed :class:`~fgsam.data.neighbor_sampler.NeighborSampler`.

    The file's size must be ``num_nodes * num_features * itemsize`` bytes; otherwise a
    one-line ``ValueError`` names the path, both sizes and the shape the file would fit.

    Args:
        path (str or os.PathLike): the file.
        num_nodes (int): rows, one per node of the graph.
        num_features (int): values per row.
        dtype (str or numpy.dtype, optional): the values' type. (default: ``"float32"``)
        mode (str, optional): :class:`numpy.memmap`'s mode: ``"r"`` (read only), ``"r+"``
            (read and write), ``"c"`` (copy on write) or ``"w+"`` (create or overwrite the
            file with the size above). (default: ``"r"``)

    Example:
        >>> x.numpy().astype("float32").tofile("features.f32")
        >>> features = memmap_features("features.f32", data.num_nodes, x.size(1))
        >>> sampler = NeighborSampler(data, [10, 5], features=features, batch_size=512)
    """
    for name, value in (("num_nodes", num_nodes), ("num_features", num_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a NumPy dtype such as 'float32', got {dtype!r}") from None
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    shape = (num_nodes, num_features)
    if mode != "w+":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"features file {os.fspath(path)} does not exist")
        actual, expected = os.path.getsize(path), num_nodes * num_features * dtype.itemsize
        if actual != expected:
            fits = _fits(actual, num_features, dtype)
            raise ValueError(f"features file {os.fspath(path)} has {actual} bytes, expected "
                             f"{expected} = {num_nodes} nodes x {num_features} features x "
                             f"{dtype.itemsize} bytes ({dtype.name}); {fits}")
    return np.memmap(path, dtype=dtype, mode=mode, shape=shape)


def _fits(size: int, num_features: int, dtype: np.dtype) -> str:
    """The shape a file of ``size`` bytes would fit, for the size-mismatch message."""
    if size == 0:
        return "the file is empty"
    if size % dtype.itemsize:
        return f"that is not a whole number of {dtype.name} values"
    values = size // dtype.itemsize
    if values % num_features:
        return (f"it holds {values} {dtype.name} values, not a whole number of rows of "
                f"{num_features}")
    return f"it would fit shape ({values // num_features}, {num_features})"


def check_features(features, num_nodes: int):
    """``features`` itself, after a one-line ``ValueError`` unless it has a ``.shape`` whose
    first dimension is the graph's ``num_nodes``."""
    shape = getattr(features, "shape", None)
    if shape is None or len(shape) < 1:
        raise ValueError(f"features must be an array with one row per node (np.memmap, "
                         f"np.ndarray, torch.Tensor or h5py-like), got {type(features).__name__}")
    if int(shape[0]) != num_nodes:
        raise ValueError(f"features has {int(shape[0])} rows (shape {tuple(shape)}) but the "
                         f"graph has {num_nodes} nodes (data.num_nodes): one row per node")
    return features


def read_rows(features, index: Tensor) -> Tensor:
    """``features[index]`` as a floating-point tensor on ``index``'s device.

    The rows are read once each, in increasing row order (sequential disk access for a
    memmap, and the increasing indices h5py requires), then put back in ``index``'s order.
    Floating-point values keep their dtype; any other is converted to ``torch.float32``.
    """
    if isinstance(features, Tensor):
        rows = torch.index_select(features, 0, index.to(features.device))
        return (rows if rows.is_floating_point() else rows.float()).to(index.device)
    ids = index.cpu().numpy()
    unique, inverse = np.unique(ids, return_inverse=True)  # sorted: one pass over the file
    rows = np.asarray(features[unique])
    if rows.dtype.kind != "f":
        rows = rows.astype(np.float32)
    out = torch.from_numpy(np.ascontiguousarray(rows))[torch.from_numpy(inverse.reshape(-1))]
    return out.to(index.device)


def portable(features):
    """A stand-in that pickles by file name when ``features`` is a whole file's memmap
    (pickling the array itself would copy the file into the pickle), else ``features``."""
    if isinstance(features, np.memmap) and isinstance(features.base, mmap.mmap):
        order = "F" if features.flags.f_contiguous and not features.flags.c_contiguous else "C"
        mode = "r+" if features.mode == "w+" else features.mode  # w+ would truncate it
        return _Reopen(features.filename, features.dtype.str, features.shape, features.offset,
                       mode, order)
    return features


def restored(features):
    """The inverse of :func:`portable`."""
    return features.open() if isinstance(features, _Reopen) else features


class _Reopen:
    """How to open a memmap again in another process."""

    def __init__(self, filename, dtype, shape, offset, mode, order) -> None:
        self.args = (filename, dtype, shape, offset, mode, order)

    def open(self) -> np.memmap:
        filename, dtype, shape, offset, mode, order = self.args
        return np.memmap(filename, dtype=dtype, mode=mode, offset=offset, shape=shape,
                         order=order)


__all__ = ["MODES", "check_features", "memmap_features", "read_rows"]
