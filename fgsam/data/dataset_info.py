"""The record the dataset catalog holds for each dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fgsam.data.files import FileSpec


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of the catalog.

    Args:
        name (str): catalog name, lower case (``"cora"``, ``"ogbg-molbbbp"``).
        kind (str): ``"graph"`` (few-shot node classification) or ``"molecule"``.
        format (str): the loader format (``"planetoid"``, ``"npz"``, ``"mat"``, ...).
        files (tuple of FileSpec): the files under the data root, with URL and sha256.
        stats (dict): published statistics the loader is checked against.
        citation (str): the paper or source to cite.
        options (dict): format-specific settings (class split, CSV columns, ...).
        notes (str): what a user should know (missing features, partial files, ...).
    """

    name: str
    kind: str
    format: str
    files: tuple[FileSpec, ...]
    stats: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    notes: str = ""


__all__ = ["DatasetInfo"]
