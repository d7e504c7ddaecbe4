"""Molecular property prediction: MoleculeNet/OGB datasets, splits and the training loop."""

from fgsam.mol.cache_dir import molecule_cache_dir
from fgsam.mol.featurize import featurize, smiles_to_data
from fgsam.mol.molecule_dataset import MoleculeDataset, molecule_info, molecule_names
from fgsam.mol.random_split import random_split
from fgsam.mol.scaffold_split import murcko_scaffold, scaffold_split

__all__ = [
    "MoleculeDataset",
    "featurize",
    "molecule_cache_dir",
    "molecule_info",
    "molecule_names",
    "murcko_scaffold",
    "random_split",
    "scaffold_split",
    "smiles_to_data",
]
