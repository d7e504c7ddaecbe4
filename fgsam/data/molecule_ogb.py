"""OGB's own ``ogbg-mol*`` folders: found in the data root, checked, and read by OGB.

When ``<data root>/ogb/ogbg_mol<name>/`` exists (the folder
``ogb.graphproppred.PygGraphPropPredDataset(name, root=<data root>/ogb)`` reads and writes),
:class:`~fgsam.data.MoleculeDataset` takes OGB's graphs and OGB's official scaffold split
from it instead of the MoleculeNet CSV. The folder is checked before OGB runs, so a
partial folder gives a one-line error instead of OGB's download, its stdin prompt or a
long read that fails late.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from fgsam.data.file_errors import unreadable
from fgsam.data.ogbn_reader import pyg_safe_globals
from fgsam.data.root import ENV_VAR, data_root

#: The release marker OGB checks in the dataset folder (version 1 for every ``ogbg-mol*``).
OGB_RELEASE = "RELEASE_v1.txt"
#: The raw files PyG checks before loading OGB's processed cache (it downloads without them).
OGB_RAW_CHECKS = ("edge.csv.gz", "node-feat.csv.gz", "edge-feat.csv.gz")
#: The further raw files OGB reads when it builds its processed cache.
OGB_RAW_BUILD = ("num-node-list.csv.gz", "num-edge-list.csv.gz", "graph-label.csv.gz")
#: The files of OGB's scaffold split, in ``split/scaffold/``.
OGB_SPLIT_FILES = ("train.csv.gz", "valid.csv.gz", "test.csv.gz")
#: OGB's molecule table (labels, SMILES), in ``mapping/``.
OGB_MAPPING = "mapping/mol.csv.gz"
_PROCESSED = "processed/geometric_data_processed.pt"
_OGB_URL = "http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download"


@dataclass
class OGBMolecules:
    """What :func:`read_ogb_molecules` returns.

    Args:
        folder (Path): the OGB dataset folder read.
        data (dict): the collated graphs, as ``Data.to_dict()``.
        slices (dict): their slices.
        smiles (list of str): the SMILES of OGB's ``mapping/mol.csv.gz``, in graph order.
        tasks (list of str): OGB's label columns, in task order.
        split (dict): OGB's ``get_idx_split()``: ``{"train", "valid", "test"}`` indices.
    """

    folder: Path
    data: dict
    slices: dict
    smiles: list[str]
    tasks: list[str]
    split: dict[str, Tensor]


def ogb_molecule_folder(name: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """OGB's folder of molecule dataset ``name`` under the data root, or ``None`` when there
    is none (``ogbg_mol*_pyg`` first, as OGB prefers it)."""
    base = data_root(root) / "ogb" / name.replace("-", "_")
    for folder in (base.with_name(base.name + "_pyg"), base):
        if folder.is_dir():
            return folder
    return None


def missing_ogb_files(folder: Path) -> list[Path]:
    """The files OGB needs that ``folder`` lacks (raw files OGB's processed cache stands
    in for are not asked for)."""
    needed = [OGB_RELEASE, OGB_MAPPING, *(f"raw/{f}" for f in OGB_RAW_CHECKS)]
    if not (folder / _PROCESSED).is_file():
        needed += [f"raw/{f}" for f in OGB_RAW_BUILD]
    split = folder / "split" / "scaffold"
    if not (split / "split_dict.pt").is_file():  # OGB's own shortcut, accepted as it accepts it
        needed += [f"split/scaffold/{f}" for f in OGB_SPLIT_FILES]
    return [folder / f for f in needed if not (folder / f).is_file()]


def check_ogb_folder(name: str, folder: Path) -> None:
    """Raise a one-line ``FileNotFoundError`` naming what ``folder`` lacks, if anything."""
    missing = missing_ogb_files(folder)
    if missing:
        names = ", ".join(os.path.relpath(p, folder) for p in missing)
        zip_name = name.replace("ogbg-mol", "")
        raise FileNotFoundError(
            f"{name}: the OGB folder {folder} lacks {names}; unzip OGB's {_OGB_URL}/"
            f"{zip_name}.zip into {folder.parent} again (rename its folder to "
            f"{folder.name}), or remove {folder} to use the MoleculeNet CSV instead, or point "
            f"the data root elsewhere with root=/--root or ${ENV_VAR}")


def read_ogb_molecules(name: str, folder: Path, log: bool = True) -> OGBMolecules:
    r"""OGB's graphs, SMILES, tasks and scaffold split of ``name``, read by OGB's
    ``PygGraphPropPredDataset`` (`"Open Graph Benchmark" <https://arxiv.org/abs/2005.00687>`_,
    Hu et al., NeurIPS 2020) from ``folder`` after :func:`check_ogb_folder`.

    OGB writes its ``processed/`` cache in ``folder`` on the first load, so the folder must
    be writable then. OGB never downloads here: the checked folder has every file it asks
    for. Labels become float (missing ones NaN) as in the CSV datasets.

    Example:
        >>> folder = ogb_molecule_folder("ogbg-molhiv", "datasets")
        >>> molecules = read_ogb_molecules("ogbg-molhiv", folder)
        >>> molecules.split["train"].numel()
        32901
    """
    import pandas as pd
    from ogb.graphproppred import PygGraphPropPredDataset

    check_ogb_folder(name, folder)
    # OGB prints its progress on stdout, which carries fgsam's results
    out = sys.stderr if log else io.StringIO()
    try:
        with pyg_safe_globals(), _no_download(name, folder), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")  # OGB's
            dataset = PygGraphPropPredDataset(name=name, root=str(folder.parent))
            split = dataset.get_idx_split()
    except PermissionError as err:
        raise PermissionError(f"{name}: OGB writes its processed/ cache in {folder}, which "
                              f"cannot be written ({err.strerror or err}); make it writable "
                              f"or copy the folder to a writable data root") from None
    except (FileNotFoundError, MemoryError):
        raise
    except Exception as err:  # a corrupt file can make pandas or torch raise almost anything
        raise _unreadable(name, folder, err) from err
    try:
        table = pd.read_csv(folder / OGB_MAPPING, compression="gzip")
    except Exception as err:  # pandas' failure on a corrupt table
        raise unreadable(folder / OGB_MAPPING, "OGB's gzip-compressed molecule table", err) \
            from err
    if "smiles" not in table.columns or len(table) != len(dataset):
        raise ValueError(f"{folder / OGB_MAPPING}: expected a 'smiles' column and "
                         f"{len(dataset)} rows (one per graph), got columns "
                         f"{list(table.columns)} and {len(table)} rows; unzip OGB's "
                         f"{name} folder again")
    index = {k: torch.as_tensor(split[k], dtype=torch.long).reshape(-1)
             for k in ("train", "valid", "test")}
    for part, ids in index.items():
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(dataset)):
            raise ValueError(f"{folder / 'split' / 'scaffold'}: {part} holds graph ids outside "
                             f"0..{len(dataset) - 1}, so it is not this folder's split; unzip "
                             f"OGB's {name} folder again")
    data = dataset._data
    data.y = data.y.to(torch.float32)  # fgsam's labels are float with NaN where missing
    tasks = [c for c in table.columns if c not in ("smiles", "mol_id")]
    return OGBMolecules(folder, data.to_dict(), dict(dataset.slices),
                        [str(s) for s in table["smiles"]], tasks, index)


def _unreadable(name: str, folder: Path, err: BaseException) -> ValueError:
    """The error naming the first raw or split file that does not decode, else the cache."""
    import pandas as pd

    files = [folder / "raw" / f for f in (*OGB_RAW_CHECKS, *OGB_RAW_BUILD)]
    files += [folder / "split" / "scaffold" / f for f in OGB_SPLIT_FILES]
    for path in files:
        if not path.is_file():
            continue
        try:
            pd.read_csv(path, compression="gzip", header=None)
        except Exception as own:  # the parse OGB does, one file at a time
            return unreadable(path, "a gzip-compressed CSV of numbers (OGB's raw layout)", own)
    if (folder / _PROCESSED).is_file():
        return unreadable(folder / _PROCESSED, "OGB's processed cache (delete it to rebuild it "
                          "from raw/)", err)
    return unreadable(folder / "raw", f"OGB's raw {name} CSVs, consistent in size", err)


@contextlib.contextmanager
def _no_download(name: str, folder: Path) -> Iterator[None]:
    """Refuse OGB's download: its refusal path deletes the folder and exits the process."""
    import ogb.graphproppred.dataset_pyg as dataset_pyg

    def refuse(url: str) -> bool:
        raise FileNotFoundError(f"{name}: OGB asked to download {url} into {folder}; "
                                f"unzip it there yourself (see {folder.parent})")

    asked = dataset_pyg.decide_download
    dataset_pyg.decide_download = refuse
    try:
        yield
    finally:
        dataset_pyg.decide_download = asked


__all__ = [
    "OGB_MAPPING",
    "OGB_RAW_BUILD",
    "OGB_RAW_CHECKS",
    "OGB_RELEASE",
    "OGB_SPLIT_FILES",
    "OGBMolecules",
    "check_ogb_folder",
    "missing_ogb_files",
    "ogb_molecule_folder",
    "read_ogb_molecules",
]
