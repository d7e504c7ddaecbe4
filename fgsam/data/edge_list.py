"""Readers for plain-text graphs: an edge list and a node-label list (SNAP, MUSAE, GPN)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from torch import Tensor

from fgsam.data.file_errors import reading
from fgsam.data.files import open_file


def read_edge_list(path: str | os.PathLike[str], delimiter: str | None = None,
                   header: bool = False) -> Tensor:
    """``edge_index [2, E]`` from a text file of ``src dst`` rows (``.gz`` read directly).

    A file that is not rows of two integers (a truncated gzip, binary bytes, a float, a
    row of one or three cells), an empty file and a negative node id raise a one-line
    ``ValueError`` naming the file.

    Args:
        path (str): the file.
        delimiter (str, optional): column separator; ``None`` splits on any whitespace.
        header (bool, optional): skip one header line (``id_1,id_2``). (default: ``False``)

    Example:
        >>> edge_index = read_edge_list("email-eu-core/email-Eu-core.txt")
    """
    rows = _read_int_pairs(path, delimiter, header, "src dst")
    return torch.from_numpy(rows.T.copy())


def read_node_labels(path: str | os.PathLike[str], num_nodes: int | None = None,
                     delimiter: str | None = None, header: bool = False) -> Tensor:
    """``y [N]`` from a text file of ``node label`` rows; nodes without a row get ``-1``.

    ``N`` is ``num_nodes`` if given, else the largest node id plus one. A node listed twice
    with different labels, a negative node id and a negative label are refused.

    Args:
        path (str): the file.
        num_nodes (int, optional): ``N``. (default: ``None``)
        delimiter (str, optional): column separator; ``None`` splits on any whitespace.
        header (bool, optional): skip one header line. (default: ``False``)

    Example:
        >>> y = read_node_labels("email-eu-core/email-Eu-core-department-labels.txt")
    """
    rows = _read_int_pairs(path, delimiter, header, "node label")
    size = int(rows[:, 0].max()) + 1 if num_nodes is None else int(num_nodes)
    if rows.size and int(rows[:, 0].max()) >= size:
        raise ValueError(f"{path}: node id {int(rows[:, 0].max())} >= num_nodes={size}")
    _refuse_negative(rows[:, 1], path, "label", "a class id >= 0 (leave an unlabelled node out)")
    y = np.full(size, -1, dtype=np.int64)
    y[rows[:, 0]] = rows[:, 1]
    if not np.array_equal(y[rows[:, 0]], rows[:, 1]):
        raise ValueError(f"{path}: a node is listed with two different labels")
    return torch.from_numpy(y)


def _read_int_pairs(path: str | os.PathLike[str], delimiter: str | None, header: bool,
                    columns: str) -> np.ndarray:
    expected = f"a text file of '{columns}' integer rows"
    with reading(path, expected), open_file(path) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below
        rows = np.loadtxt(f, dtype=np.int64, delimiter=delimiter, skiprows=int(header),
                          ndmin=2)
    if rows.size == 0:
        raise ValueError(f"{path}: no rows; expected '{columns}' rows of two integers")
    if rows.shape[1] != 2:
        raise ValueError(f"{path}: expected 2 columns per row ('{columns}'), found "
                         f"{rows.shape[1]}")
    _refuse_negative(rows[:, 0], path, columns.split()[0] + " id", "a node id >= 0")
    if columns == "src dst":
        _refuse_negative(rows[:, 1], path, "dst id", "a node id >= 0")
    return rows


def _refuse_negative(values: np.ndarray, path: object, what: str, valid: str) -> None:
    bad = np.flatnonzero(values < 0)
    if bad.size:
        # data rows are 0-based here; the message counts them from 1 as an editor does
        first = "; ".join(f"row {i + 1}: {values[i]}" for i in bad[:3].tolist())
        raise ValueError(f"{path}: {bad.size} negative {what}{'s' * (bad.size != 1)} "
                         f"(first at data {first}); each must be {valid}")


__all__ = ["read_edge_list", "read_node_labels"]
