"""SMILES to PyG graphs with OGB's atom/bond features, RDKit kept quiet."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

import fgsam.typing as fgsam_typing


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Inside this context RDKit logs nothing (invalid SMILES are counted instead)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def smiles_to_data(smiles: str, y: Tensor | None = None) -> Data | None:
    """One molecule as a PyG :class:`~torch_geometric.data.Data`, or ``None`` if RDKit
    cannot parse ``smiles`` (or it has no atom).

    The features are exactly those of :func:`ogb.utils.smiles2graph`: ``x`` (``[n, 9]``
    atom features), ``edge_index`` (``[2, 2b]``, each bond in both directions) and
    ``edge_attr`` (``[2b, 3]`` bond features), all ``int64``; ``y`` (``[1, T]``) is
    attached when given.

    Example:
        >>> data = smiles_to_data("CCO", torch.tensor([[1.0]]))
    """
    from ogb.utils import smiles2graph
    from rdkit import Chem

    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        graph = smiles2graph(smiles)
    data = Data(
        x=torch.from_numpy(graph["node_feat"]),
        edge_index=torch.from_numpy(graph["edge_index"]),
        edge_attr=torch.from_numpy(graph["edge_feat"]),
        num_nodes=int(graph["num_nodes"]),
    )
    if y is not None:
        data.y = y.reshape(1, -1)
    return data


def featurize(smiles: Sequence[str], labels: Tensor) -> tuple[list[Data], list[int], list[int]]:
    """Featurise every molecule; invalid SMILES are skipped and reported.

    Args:
        smiles (sequence of str): one SMILES per row.
        labels (torch.Tensor): ``[rows, T]`` labels (NaN where missing).

    Returns:
        ``(graphs, kept, skipped)``: the graphs of the valid rows, their row numbers,
        and the row numbers of the SMILES RDKit could not parse.
    """
    if not fgsam_typing.WITH_RDKIT:
        raise ImportError("featurising molecules needs RDKit: pip install 'fgsam[mol]' "
                          "(or pip install rdkit)")
    if len(smiles) != labels.size(0):
        raise ValueError(f"got {len(smiles)} SMILES but {labels.size(0)} label rows")
    graphs, kept, skipped = [], [], []
    for row, (s, y) in enumerate(zip(smiles, labels)):
        data = smiles_to_data(s, y)
        if data is None:
            skipped.append(row)
        else:
            graphs.append(data)
            kept.append(row)
    return graphs, kept, skipped


__all__ = ["featurize", "quiet_rdkit", "smiles_to_data"]
