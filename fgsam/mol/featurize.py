"""SMILES to graphs, kept here under its earlier import path: the CSV reader lives in
:mod:`fgsam.data.molecule_csv`, the featuriser in :mod:`fgsam.data.molecule_features`."""

from fgsam.data.molecule_csv import SHOWN, TASK_TYPES, read_molecule_csv
from fgsam.data.molecule_features import featurize, quiet_rdkit, smiles_to_data

__all__ = [
    "SHOWN",
    "TASK_TYPES",
    "featurize",
    "quiet_rdkit",
    "read_molecule_csv",
    "smiles_to_data",
]
