"""Reader for the GPN few-shot format (DBLP, Amazon-Clothing, Amazon-Electronics).

A dataset ``<name>`` is three files: ``<name>_network`` (tab-separated edge list, both
directions listed), ``<name>_train.mat`` and ``<name>_test.mat``, each with keys ``Index``
(1×n node ids), ``Attributes`` (n×F sparse) and ``Label`` (n×1 class ids). The train file
holds the nodes of the training and validation classes, the test file those of the test
classes (Ding et al., CIKM 2020).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fgsam.data.edge_list import read_edge_list
from fgsam.data.file_errors import reading
from fgsam.data.mat_file import dense_float32, read_mat

_EXPECTED = "a GPN .mat file with arrays Index (1×n), Attributes (n×F) and Label (n×1)"


@dataclass(frozen=True)
class GPNPart:
    """The nodes one GPN ``.mat`` file describes.

    Args:
        index (torch.Tensor): node ids, ``[n]``.
        x (torch.Tensor): their features, float32 ``[n, F]``.
        y (torch.Tensor): their class ids, ``[n]``.
    """

    index: Tensor
    x: Tensor
    y: Tensor

    @property
    def classes(self) -> list[int]:
        """The sorted class ids present in this part."""
        return sorted(set(self.y.tolist()))

    def __repr__(self) -> str:
        return (f"GPNPart(nodes={self.index.numel()}, features={self.x.size(1)}, "
                f"classes={len(self.classes)})")


def read_gpn_mat(path: str | os.PathLike[str]) -> GPNPart:
    """One ``<name>_train.mat`` or ``<name>_test.mat`` (``.gz`` read directly).

    A truncated or undecodable file, missing keys, non-integer or negative ids and labels,
    and parts of different lengths raise a one-line ``ValueError`` naming the file.

    Example:
        >>> part = read_gpn_mat("fsnc/amazon-clothing/amazon-clothing_test.mat")
    """
    mat = read_mat(path, ("Index", "Attributes", "Label"), _EXPECTED)
    with reading(path, _EXPECTED + " of numbers"):
        raw_index = np.asarray(mat["Index"], dtype=np.float64).reshape(-1)
        dense = dense_float32(mat["Attributes"])
        label = np.asarray(mat["Label"], dtype=np.float64).reshape(-1)
    _refuse_non_ids(raw_index, path, "Index", "node id")
    _refuse_non_ids(label, path, "Label", "class id")
    index = raw_index.astype(np.int64)
    if not (index.size == dense.shape[0] == label.size):
        raise ValueError(f"{path}: {index.size} ids, {dense.shape[0]} attribute rows and "
                         f"{label.size} labels do not match")
    return GPNPart(torch.from_numpy(index), torch.from_numpy(dense),
                   torch.from_numpy(label.astype(np.int64)))


def _refuse_non_ids(values: np.ndarray, path: object, key: str, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (values < 0))
    if bad.size:
        first = "; ".join(f"entry {i}: {values[i]:g}" for i in bad[:3].tolist())
        raise ValueError(f"{path}: '{key}' has {bad.size} bad {what}{'s' * (bad.size != 1)} "
                         f"(first at {first}); each must be a non-negative integer")


def read_gpn_network(path: str | os.PathLike[str]) -> Tensor:
    """``edge_index [2, E]`` of a ``<name>_network`` file (tab-separated, ``.gz`` read)."""
    return read_edge_list(path, delimiter="\t")


def assemble_gpn(edge_index: Tensor, parts: list[GPNPart],
                 num_nodes: int | None = None) -> tuple[Tensor, Tensor]:
    """``(x, y)`` over all nodes from the parts; nodes in no part get zero features and
    label ``-1``. ``num_nodes`` defaults to the largest id in the network or parts plus one
    (GPN's convention uses the network's).
    """
    if not parts:
        raise ValueError("assemble_gpn needs at least one GPNPart")
    widths = {p.x.size(1) for p in parts}
    if len(widths) != 1:
        raise ValueError(f"GPN parts have different feature widths {sorted(widths)}")
    if num_nodes is None:
        ids = [int(edge_index.max()) if edge_index.numel() else -1]
        ids += [int(p.index.max()) for p in parts if p.index.numel()]
        num_nodes = max(ids) + 1
    x = torch.zeros(num_nodes, widths.pop(), dtype=torch.float32)
    y = torch.full((num_nodes,), -1, dtype=torch.long)
    for part in parts:
        taken = y[part.index] >= 0
        if taken.any():
            n = int(taken.sum())
            raise ValueError(f"{n} node{'s' * (n != 1)} appear{'s' * (n == 1)} in two GPN "
                             f"parts (first: node ids {part.index[taken][:3].tolist()}); each "
                             f"node belongs to one part")
        x[part.index] = part.x
        y[part.index] = part.y
    return x, y


__all__ = ["GPNPart", "assemble_gpn", "read_gpn_mat", "read_gpn_network"]
