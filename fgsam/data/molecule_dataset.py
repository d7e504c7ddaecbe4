"""MoleculeNet/OGB molecule datasets (:class:`MoleculeDataset`) and their names."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data, InMemoryDataset

from fgsam._io import torch_save
from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.files import fetch, sha256sum
from fgsam.data.molecule_cache import (
    CACHE_ENV_VAR,
    CACHE_FORMAT,
    molecule_cache_dir,
    user_cache_dir,
)
from fgsam.data.molecule_catalog import MOLECULES
from fgsam.data.molecule_csv import read_molecule_csv
from fgsam.data.molecule_features import featurize
from fgsam.data.molecule_ogb import ogb_molecule_folder, read_ogb_molecules
from fgsam.data.molecule_split import random_split, scaffold_split
from fgsam.data.root import data_root

#: The split kinds of :meth:`MoleculeDataset.get_idx_split`.
SPLITS = ("scaffold", "random")


def molecule_names() -> list[str]:
    """The names of the molecule datasets (OGB's ``ogbg-mol*`` names)."""
    return [info.name for info in MOLECULES]


def molecule_info(name: str) -> DatasetInfo:
    """The catalog entry of molecule dataset ``name``; an unknown name lists the valid ones."""
    for info in MOLECULES:
        if info.name == str(name).lower():
            return info
    raise ValueError(f"unknown molecule dataset {name!r}; valid names: "
                     f"{', '.join(molecule_names())}")


class MoleculeDataset(InMemoryDataset):
    r"""A MoleculeNet dataset as PyG graphs with OGB's features, names, metric and splits
    (`Hu et al., "Open Graph Benchmark" <https://arxiv.org/abs/2005.00687>`_; data from
    `Wu et al., "MoleculeNet" <https://arxiv.org/abs/1703.00564>`_).

    The CSV comes from the data root (``moleculenet/``; downloaded from its published URL
    when missing and allowed) and is checked against its sha256. Each SMILES becomes a
    graph with :func:`ogb.utils.smiles2graph`'s ``x``/``edge_index``/``edge_attr`` and a
    ``[1, T]`` float label ``y`` in which missing labels are NaN; SMILES RDKit cannot
    parse are skipped and listed in :attr:`skipped`. The processed graphs are cached,
    written atomically, in ``cache_dir`` (see
    :func:`~fgsam.data.molecule_cache.molecule_cache_dir`), keyed by the CSV's sha256.

    When the data root holds OGB's own folder of the dataset (``ogb/ogbg_molhiv/`` etc.,
    as OGB's ``PygGraphPropPredDataset(name, root=<data root>/ogb)`` reads it), OGB's
    graphs are read from it by OGB (see :mod:`fgsam.data.molecule_ogb`; OGB writes its
    ``processed/`` cache there) instead of the CSV, and the scaffold split is OGB's
    official one (``split/scaffold/``); :attr:`source_kind` says which was read
    (``cache_dir`` and ``download`` are then unused). A partial OGB folder raises a
    one-line ``FileNotFoundError`` naming what it lacks.

    The CSV is checked as it is read (:func:`~fgsam.data.molecule_csv.read_molecule_csv`):
    an empty or undecodable file, a missing SMILES or label column, an infinite label, a
    label column without any label and, for classification, a label other than 0/1
    raise a one-line ``ValueError`` naming the file, the dataset, the column, how many
    cells are bad and their first line numbers.

    Args:
        name (str or DatasetInfo): an OGB name, e.g. ``"ogbg-molbbbp"`` (see
            :func:`molecule_names`), or an entry of your own in the catalog's
            ``moleculenet-csv`` format (e.g. a catalog entry with another file via
            ``dataclasses.replace``; such an entry always reads its CSV).
        root (str or Path, optional): the data root. (default: ``$FGSAM_DATA``, else
            ``./datasets``)
        cache_dir (str or Path, optional): the cache folder. (default: ``$FGSAM_CACHE``,
            else ``processed/`` beside the CSV if writable, else the user cache)
        download (bool, optional): download a missing CSV. (default: unless
            ``$FGSAM_DOWNLOAD=0``)
        transform (callable, optional): a PyG transform applied on access.
        log (bool, optional): say when the graphs are built. (default: ``True``)

    Example:
        >>> dataset = MoleculeDataset("ogbg-molbbbp")
        >>> split = dataset.get_idx_split()  # OGB's scaffold split
        >>> train = dataset[split["train"]]
    """

    def __init__(self, name: str | DatasetInfo, root: str | os.PathLike[str] | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, download: bool | None = None,
                 transform: Any = None, log: bool = True) -> None:
        self.info = name if isinstance(name, DatasetInfo) else molecule_info(name)
        if self.info.kind != "molecule":
            raise ValueError(f"{self.info.name!r} is a {self.info.kind} dataset; "
                             f"MoleculeDataset reads the molecule datasets "
                             f"{', '.join(molecule_names())}")
        super().__init__(None, transform, log=log)
        #: OGB's official split when OGB's folder was read, else ``None``.
        self.ogb_split: dict[str, Tensor] | None = None
        folder = ogb_molecule_folder(self.info.name, root) if isinstance(name, str) else None
        if folder is not None:
            self._read_ogb(folder)
            return
        #: ``"moleculenet-csv"`` or ``"ogb"`` (OGB's own folder): where the graphs come from.
        self.source_kind = "moleculenet-csv"
        spec = self.info.files[0]
        self.source = fetch(spec, root, download)
        matched = next(c for c in spec.candidates()
                       if data_root(root) / c.path == self.source)
        columns = self.info.options["columns"][matched.path]
        self.source_sha256 = matched.sha256 or sha256sum(self.source)
        file_name = f"{self.info.name}-{self.source_sha256[:16]}-v{CACHE_FORMAT}.pt"
        explicit = cache_dir is not None or bool(os.environ.get(CACHE_ENV_VAR))
        self.cache_path = molecule_cache_dir(cache_dir, self.source) / file_name
        content = self._read_cache(self.cache_path)
        if content is None:
            content = self._build(columns["smiles"], columns["labels"])
            self.cache_path = self._write_cache(content, self.cache_path, explicit)
        self.data = Data.from_dict(content["data"])
        self.slices = content["slices"]
        #: SMILES of the molecules, in dataset order.
        self.smiles: list[str] = content["smiles"]
        #: CSV row (0-based, header excluded) of each molecule.
        self.rows: list[int] = content["rows"]
        #: CSV rows whose SMILES RDKit could not parse (skipped).
        self.skipped: list[int] = content["skipped"]
        #: Label columns (the tasks, in OGB's order).
        self.tasks: list[str] = list(columns["labels"])

    # -------------------------------------------------------------- metadata
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def task_type(self) -> str:
        """``"binary classification"`` or ``"regression"`` (OGB's words)."""
        return self.info.options["task_type"]

    @property
    def eval_metric(self) -> str:
        """``"rocauc"`` or ``"rmse"``, as :class:`ogb.graphproppred.Evaluator` reports it."""
        return self.info.options["eval_metric"]

    def get_idx_split(self, split: str = "scaffold", seed: int = 0) -> dict[str, Tensor]:
        """``{"train", "valid", "test"}`` index tensors: OGB's deterministic scaffold split
        (80/10/10; OGB's own split files when OGB's folder was read) or a seeded random
        split (``seed`` used only there)."""
        if split == "scaffold" and self.ogb_split is not None:
            return {part: index.clone() for part, index in self.ogb_split.items()}
        if split == "scaffold":
            return scaffold_split(self.smiles)
        if split == "random":
            return random_split(len(self.smiles), seed)
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")

    def __repr__(self) -> str:
        what = ("OGB's graphs" if self.source_kind == "ogb"
                else f"{len(self.skipped)} invalid SMILES skipped")
        return (f"{type(self).__name__}({self.name!r}, {len(self)} molecules, "
                f"{self.num_tasks} task{'s' * (self.num_tasks != 1)}, {what})")

    def _read_ogb(self, folder: Path) -> None:
        molecules = read_ogb_molecules(self.info.name, folder, log=self.log)
        self.source_kind = "ogb"
        self.source = folder
        self.source_sha256 = None  # OGB's release, not a checksummed file of the catalog
        self.cache_path = folder / "processed" / "geometric_data_processed.pt"
        self.data = Data.from_dict(molecules.data)
        self.slices = molecules.slices
        self.smiles = molecules.smiles
        self.rows = list(range(len(molecules.smiles)))  # OGB's graph order
        self.skipped = []
        self.tasks = molecules.tasks
        self.ogb_split = molecules.split

    # ----------------------------------------------------------------- cache
    def _build(self, smiles_column: str, label_columns: list[str]) -> dict[str, Any]:
        if self.log:
            print(f"featurising {self.name} from {self.source}", file=sys.stderr)
        smiles, labels = read_molecule_csv(self.source, smiles_column, label_columns,
                                           task_type=self.task_type, name=self.name)
        graphs, kept, skipped = featurize(smiles, labels)
        if not graphs:
            raise ValueError(f"no SMILES of {self.source} could be parsed by RDKit")
        data, slices = self.collate(graphs)
        return {"format": CACHE_FORMAT, "name": self.name, "source_sha256": self.source_sha256,
                "data": data.to_dict(), "slices": slices, "smiles": [smiles[i] for i in kept],
                "rows": kept, "skipped": skipped}

    def _read_cache(self, path: Path) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a corrupt cache is rebuilt, never trusted
            warnings.warn(f"ignoring unreadable cache {path}: {err}", stacklevel=3)
            return None
        ok = (isinstance(content, dict) and content.get("format") == CACHE_FORMAT
              and content.get("source_sha256") == self.source_sha256)
        return content if ok else None

    def _write_cache(self, content: dict[str, Any], path: Path, explicit: bool) -> Path:
        targets = [path] if explicit else [path, user_cache_dir() / path.name]
        for target in dict.fromkeys(targets):
            try:
                torch_save(target, content)
            except OSError as err:
                if explicit:  # the folder was asked for: say so in one line, do not fall back
                    raise ValueError(f"cache folder {str(target.parent)!r} cannot be written "
                                     f"({err.strerror or err}); give a writable cache_dir / "
                                     f"--cache-dir or ${CACHE_ENV_VAR}") from None
                warnings.warn(f"could not write the cache {target}: {err}", stacklevel=3)
                continue
            if self.log:
                print(f"{len(content['rows'])} molecules, {len(content['skipped'])} invalid "
                      f"SMILES skipped; cache written to {target}", file=sys.stderr)
            return target
        return path


__all__ = ["SPLITS", "MoleculeDataset", "molecule_info", "molecule_names"]
