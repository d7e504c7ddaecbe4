"""The molecule datasets, kept here under their earlier import path: they live in
:mod:`fgsam.data.molecule_dataset` and :mod:`fgsam.data.molecule_cache`."""

from fgsam.data.molecule_cache import (
    CACHE_ENV_VAR,
    CACHE_FORMAT,
    check_cache_dir,
    molecule_cache_dir,
    user_cache_dir,
    writable,
)
from fgsam.data.molecule_dataset import SPLITS, MoleculeDataset, molecule_info, molecule_names

__all__ = [
    "CACHE_ENV_VAR",
    "CACHE_FORMAT",
    "SPLITS",
    "MoleculeDataset",
    "check_cache_dir",
    "molecule_cache_dir",
    "molecule_info",
    "molecule_names",
    "user_cache_dir",
    "writable",
]
