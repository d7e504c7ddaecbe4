"""Fixtures of the molecule tests: real MoleculeNet files, caches in temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture()
def mol_root(data_root: Path, tmp_path: Path) -> Path:
    """A writable data root holding copies of a few real MoleculeNet CSVs."""
    root = tmp_path / "data"
    (root / "moleculenet").mkdir(parents=True)
    for name in ("BBBP.csv", "clintox.csv", "delaney-processed.csv"):
        shutil.copy(data_root / "moleculenet" / name, root / "moleculenet" / name)
    return root


@pytest.fixture(scope="session")
def mol_cache(tmp_path_factory) -> Path:
    """One cache folder for the whole session, so each dataset is featurised once."""
    return tmp_path_factory.mktemp("mol-cache")
