"""Reading MoleculeNet CSVs: SMILES and labels, refused in one line when malformed."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence

import torch
from torch import Tensor

from fgsam.data.file_errors import reading
from fgsam.data.files import open_file

#: The task types a label column can be checked against (OGB's words).
TASK_TYPES = ("binary classification", "regression")
#: How many bad rows a message quotes.
SHOWN = 3


def read_molecule_csv(
    path: str | os.PathLike[str], smiles_column: str, label_columns: Sequence[str], *,
    task_type: str | None = None, name: str | None = None,
) -> tuple[list[str], Tensor]:
    """The SMILES and the ``[rows, T]`` float labels of a (possibly gzipped) CSV.

    Empty label cells (and ``nan``) become NaN: a missing label, not a zero. The file is
    refused with a one-line ``ValueError`` naming it (and ``name``), the column, how many
    cells are bad and their first line numbers (line 1 is the header) when:

    - it is empty, undecodable (not UTF-8 text, a truncated gzip) or has no data rows;
    - it lacks the SMILES or a label column, or names one of them twice;
    - a row has a different number of cells than the header, or a label is not a number;
    - a label is infinite (``inf``);
    - a label column has no label at all (every cell empty);
    - with ``task_type="binary classification"``, a label is not 0 or 1.

    Regression labels may be any finite number.

    Args:
        path (str): the CSV (``.gz`` read directly).
        smiles_column (str): the column of SMILES strings.
        label_columns (sequence of str): the label columns, in task order.
        task_type (str, optional): ``"binary classification"`` or ``"regression"``;
            ``None`` checks only what holds for both. (default: ``None``)
        name (str, optional): the dataset, for messages. (default: ``None``)

    Example:
        >>> smiles, y = read_molecule_csv("moleculenet/BBBP.csv", "smiles", ["p_np"],
        ...                               task_type="binary classification")
    """
    if task_type is not None and task_type not in TASK_TYPES:
        raise ValueError(f"task_type={task_type!r} is not one of {', '.join(TASK_TYPES)} "
                         f"(or None)")
    where = f"{os.fspath(path)}" + (f" (dataset {name!r})" if name else "")
    wanted = [smiles_column, *label_columns]
    with reading(where, "a UTF-8 CSV file (gzip-compressed if it ends in .gz)"), \
            open_file(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        # the reader's own line count: a quoted cell may span several lines
        rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise ValueError(f"{where} is empty: expected a header with columns {wanted}")
    header = [h.strip() for h in rows[0][1]]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"{where} lacks the columns {missing}; expected {wanted}, "
                         f"found columns {header}")
    twice = [c for c in dict.fromkeys(wanted) if header.count(c) > 1]
    if twice:
        raise ValueError(f"{where} has the columns {twice} more than once in its header "
                         f"{header}: which one holds the data is ambiguous")
    at = [header.index(c) for c in wanted]
    smiles: list[str] = []
    labels: list[list[float]] = []
    lines: list[int] = []
    for line, row in rows[1:]:
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise ValueError(f"{where} line {line}: {len(row)} cells, header has "
                             f"{len(header)}")
        smiles.append(row[at[0]].strip())
        labels.append([_label(row[i], where, line, header[i]) for i in at[1:]])
        lines.append(line)
    if not smiles:
        raise ValueError(f"{where} has a header but no data rows: expected one molecule per "
                         f"line after the header")
    y = torch.tensor(labels, dtype=torch.float32).reshape(len(smiles), len(at) - 1)
    _check_labels(y, list(label_columns), torch.tensor(lines), where, task_type)
    return smiles, y


def _label(cell: str, where: str, line: int, column: str) -> float:
    cell = cell.strip()
    if cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{where} line {line}, column {column!r}: {cell!r} is not a number "
                         f"(an empty cell marks a missing label)") from None


def _check_labels(y: Tensor, columns: list[str], lines: Tensor, where: str,
                  task_type: str | None) -> None:
    """Refuse infinite labels, label-less columns and (binary) labels other than 0/1."""
    empty = [c for c, has in zip(columns, (~torch.isnan(y)).any(0).tolist()) if not has]
    if empty:
        raise ValueError(f"{where}: {len(empty)} label column{'s' * (len(empty) != 1)} "
                         f"{'have' if len(empty) != 1 else 'has'} no label at all (every one "
                         f"of the {y.size(0)} cells is empty): {empty}; each task needs "
                         f"labelled molecules")
    _refuse(y, torch.isinf(y), columns, lines, where, "infinite label", "infinite labels",
            "a label must be a finite number, or an empty cell for a missing label")
    if task_type == "binary classification":
        _refuse(y, ~(torch.isnan(y) | (y == 0) | (y == 1)), columns, lines, where,
                "label other than 0 or 1", "labels other than 0 or 1",
                "a binary classification label is 0, 1, or an empty cell for a missing label")


def _refuse(y: Tensor, bad: Tensor, columns: list[str], lines: Tensor, where: str, one: str,
            many: str, valid: str) -> None:
    if not bad.any():
        return
    per_column = bad.sum(0)
    first = int(per_column.nonzero()[0])
    count = int(per_column[first])
    rows = bad[:, first].nonzero()[:SHOWN, 0]
    shown = "; ".join(f"line {int(lines[r])}: {float(y[r, first]):g}" for r in rows.tolist())
    others = [columns[c] for c in per_column.nonzero()[1:, 0].tolist()]
    also = f"; columns {others} have such labels too" if others else ""
    raise ValueError(f"{where}, column {columns[first]!r}: {count} {one if count == 1 else many} "
                     f"(first at {shown}){also}; {valid}")


__all__ = ["SHOWN", "TASK_TYPES", "read_molecule_csv"]
