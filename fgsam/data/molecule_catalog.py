"""Catalog entries of the molecule datasets (MoleculeNet CSVs, named as in OGB)."""

from __future__ import annotations

from fgsam.data.dataset_info import DatasetInfo

#: Molecule datasets, in the order ``fgsam datasets`` lists them.
MOLECULES: list[DatasetInfo] = []

__all__ = ["MOLECULES"]
