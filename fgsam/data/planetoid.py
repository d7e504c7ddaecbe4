"""Reader for the Planetoid files (``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``)."""

from __future__ import annotations

import os

from torch import Tensor

#: The eight raw files of a Planetoid dataset, as ``ind.<prefix>.<suffix>``.
PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def read_planetoid(folder: str | os.PathLike[str], prefix: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from the raw Planetoid files in ``folder``.

    PyG's reader is used as is (it handles CiteSeer's test nodes missing from the graph);
    nothing is written next to the files, so a read-only data root works.
    """
    from torch_geometric.io import read_planetoid_data

    data = read_planetoid_data(os.fspath(folder), prefix)
    return data.x, data.edge_index, data.y


__all__ = ["PLANETOID_SUFFIXES", "read_planetoid"]
