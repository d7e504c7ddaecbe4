"""Small real molecules (OGB featurisation) shared by the model tests."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "C",  # one atom, no bond
    "[Na+].[Cl-]",  # two atoms, no bond
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "C1CC1N",
    "O=C(O)C[C@@H](N)C(=O)O",
]


def molecule(smiles: str, y: float = 0.0) -> Data:
    from ogb.utils import smiles2graph

    g = smiles2graph(smiles)
    return Data(
        x=torch.from_numpy(g["node_feat"]),
        edge_index=torch.from_numpy(g["edge_index"]),
        edge_attr=torch.from_numpy(g["edge_feat"]),
        y=torch.tensor([[y]]),
        num_nodes=g["num_nodes"],
    )


@pytest.fixture()
def molecules() -> list[Data]:
    return [molecule(s, float(i % 2)) for i, s in enumerate(SMILES)]


@pytest.fixture()
def batch(molecules) -> Batch:
    return Batch.from_data_list(molecules)
