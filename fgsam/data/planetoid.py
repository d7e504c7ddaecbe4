"""Reader for the Planetoid files (``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``)."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from fgsam.data.file_errors import unreadable

#: The eight raw files of a Planetoid dataset, as ``ind.<prefix>.<suffix>``.
PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def read_planetoid(folder: str | os.PathLike[str], prefix: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` from the raw Planetoid files in ``folder``.

    PyG's reader is used as is (it handles CiteSeer's test nodes missing from the graph);
    nothing is written next to the files, so a read-only data root works. A truncated or
    undecodable file raises a one-line ``ValueError`` naming that file; files that decode
    but do not fit together name the folder.

    Example:
        >>> x, edge_index, y = read_planetoid("planetoid/Cora/raw", "cora")
    """
    from torch_geometric.io import read_planetoid_data

    try:
        data = read_planetoid_data(os.fspath(folder), prefix)
    except (FileNotFoundError, PermissionError, MemoryError):
        raise
    except Exception as err:  # a corrupt pickle can make the unpickler raise almost anything
        raise _culprit(folder, prefix, err) from err
    return data.x, data.edge_index, data.y


def read_planetoid_public_split(folder: str | os.PathLike[str], prefix: str
                                ) -> tuple[Tensor, Tensor, Tensor]:
    """``(train, val, test)`` node ids of the public Planetoid split, from the raw files.

    The split of `"Semi-Supervised Classification with Graph Convolutional Networks"
    <https://arxiv.org/abs/1609.02907>`_ (Kipf and Welling, ICLR 2017), as PyG's
    ``Planetoid(split="public")`` builds it: the nodes of ``ind.<prefix>.y`` train (20 a
    class), the next 500 validate, and the nodes of ``ind.<prefix>.test.index`` test (1000).
    Node ids are those :func:`read_planetoid` gives; each tensor is sorted.

    Args:
        folder (str): the folder of the raw files.
        prefix (str): the file prefix, e.g. ``"cora"``.

    Example:
        >>> train, val, test = read_planetoid_public_split("planetoid/Cora/raw", "cora")
        >>> train.numel(), val.numel(), test.numel()
        (140, 500, 1000)
    """
    from torch_geometric.io.planetoid import read_file

    items = []
    for suffix in ("y", "test.index"):
        try:
            items.append(read_file(os.fspath(folder), prefix, suffix))
        except (FileNotFoundError, PermissionError, MemoryError):
            raise
        except Exception as err:  # a corrupt pickle can make the unpickler raise almost anything
            raise _culprit(folder, prefix, err) from err
    num_train = int(items[0].size(0))
    train = torch.arange(num_train)
    val = torch.arange(num_train, num_train + 500)
    return train, val, items[1].to(torch.long).sort().values


def _culprit(folder: str | os.PathLike[str], prefix: str, err: Exception) -> ValueError:
    """The error naming the first file that fails to decode on its own, else the folder."""
    from torch_geometric.io.planetoid import read_file

    for suffix in PLANETOID_SUFFIXES:
        try:
            read_file(os.fspath(folder), prefix, suffix)
        except Exception as own:  # the same decoding PyG does, one file at a time
            expected = ("a text file of node ids, one per line" if suffix == "test.index"
                        else "a Planetoid pickle (latin-1 encoded, as published)")
            return unreadable(os.path.join(folder, f"ind.{prefix.lower()}.{suffix}"), expected,
                              own)
    return unreadable(os.path.join(folder, f"ind.{prefix.lower()}.*"),
                      "the eight Planetoid files of one dataset, consistent in size", err)


__all__ = ["PLANETOID_SUFFIXES", "read_planetoid", "read_planetoid_public_split"]
