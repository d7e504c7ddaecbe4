"""Reading a MoleculeNet CSV: the SMILES column and the label columns."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence

import torch
from torch import Tensor

from fgsam.data.files import open_file


def read_molecule_csv(
    path: str | os.PathLike[str], smiles_column: str, label_columns: Sequence[str]
) -> tuple[list[str], Tensor]:
    """The SMILES and the ``[rows, T]`` float labels of a (possibly gzipped) CSV.

    Empty label cells become NaN (a missing label, not a zero). A file without the
    expected columns raises ``ValueError`` naming the columns it has.

    Example:
        >>> smiles, y = read_molecule_csv("moleculenet/BBBP.csv", "smiles", ["p_np"])
    """
    with open_file(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header with columns "
                             f"{[smiles_column, *label_columns]}")
        header = [h.strip() for h in header]
        wanted = [smiles_column, *label_columns]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"{path} lacks the columns {missing}; expected {wanted}, "
                             f"found columns {header}")
        at = [header.index(c) for c in wanted]
        smiles: list[str] = []
        labels: list[list[float]] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue  # a blank line
            if len(row) < len(header):
                raise ValueError(f"{path} line {line}: {len(row)} cells, header has "
                                 f"{len(header)}")
            smiles.append(row[at[0]].strip())
            labels.append([_label(row[i], path, line, header[i]) for i in at[1:]])
    return smiles, torch.tensor(labels, dtype=torch.float32).reshape(len(smiles), len(at) - 1)


def _label(cell: str, path: object, line: int, column: str) -> float:
    cell = cell.strip()
    if cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{path} line {line}, column {column!r}: {cell!r} is not a number "
                         f"(an empty cell marks a missing label)") from None


__all__ = ["read_molecule_csv"]
