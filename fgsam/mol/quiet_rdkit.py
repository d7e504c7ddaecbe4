"""Silence RDKit's per-molecule log lines while a whole dataset is processed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Inside this context RDKit logs nothing (invalid SMILES are counted instead)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


__all__ = ["quiet_rdkit"]
