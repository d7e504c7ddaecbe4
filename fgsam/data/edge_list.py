"""Readers for plain-text graphs: an edge list and a node-label list (SNAP, MUSAE, GPN)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from fgsam.data.files import open_file


def read_edge_list(path: str | os.PathLike[str], delimiter: str | None = None,
                   header: bool = False) -> Tensor:
    """``edge_index [2, E]`` from a text file of ``src dst`` rows (``.gz`` read directly).

    Args:
        path (str): the file.
        delimiter (str, optional): column separator; ``None`` splits on any whitespace.
        header (bool, optional): skip one header line (``id_1,id_2``). (default: ``False``)
    """
    rows = _read_int_pairs(path, delimiter, header)
    return torch.from_numpy(rows.T.copy())


def read_node_labels(path: str | os.PathLike[str], num_nodes: int | None = None,
                     delimiter: str | None = None, header: bool = False) -> Tensor:
    """``y [N]`` from a text file of ``node label`` rows; nodes without a row get ``-1``.

    ``N`` is ``num_nodes`` if given, else the largest node id plus one. A node listed twice
    with different labels is refused.
    """
    rows = _read_int_pairs(path, delimiter, header)
    size = int(rows[:, 0].max()) + 1 if num_nodes is None else int(num_nodes)
    if rows.size and int(rows[:, 0].max()) >= size:
        raise ValueError(f"{path}: node id {int(rows[:, 0].max())} >= num_nodes={size}")
    y = np.full(size, -1, dtype=np.int64)
    y[rows[:, 0]] = rows[:, 1]
    if not np.array_equal(y[rows[:, 0]], rows[:, 1]):
        raise ValueError(f"{path}: a node is listed with two different labels")
    return torch.from_numpy(y)


def _read_int_pairs(path: str | os.PathLike[str], delimiter: str | None,
                    header: bool) -> np.ndarray:
    with open_file(path) as f:
        rows = np.loadtxt(f, dtype=np.int64, delimiter=delimiter, skiprows=int(header), ndmin=2)
    if rows.shape[1] != 2:
        raise ValueError(f"{path}: expected 2 columns per row, found {rows.shape[1]}")
    return rows


__all__ = ["read_edge_list", "read_node_labels"]
