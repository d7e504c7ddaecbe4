"""The dataset catalog: every dataset fgsam knows, its files, statistics and class split."""

from __future__ import annotations

from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.graph_catalog import GRAPHS
from fgsam.data.molecule_catalog import MOLECULES

#: Every dataset: the few-shot graphs, then the molecule sets.
CATALOG: list[DatasetInfo] = [*GRAPHS, *MOLECULES]

#: The kinds of dataset in the catalog.
KINDS = ("graph", "molecule")


def list_datasets(kind: str | None = None) -> list[str]:
    """Names of the catalog's datasets, optionally only those of ``kind``
    (``"graph"`` or ``"molecule"``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)} (or None for all)")
    return [info.name for info in CATALOG if kind is None or info.kind == kind]


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry of ``name`` (case-insensitive)."""
    key = name.lower()
    for info in CATALOG:
        if info.name == key:
            return info
    raise ValueError(f"unknown dataset {name!r}; the catalog has: {', '.join(list_datasets())}")


__all__ = ["CATALOG", "KINDS", "dataset_info", "list_datasets"]
