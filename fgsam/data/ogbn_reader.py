"""OGB's node-property-prediction datasets (``ogbn-*``) through OGB's own loader."""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from fgsam.data.file_errors import unreadable
from fgsam.data.files import DOWNLOAD_ENV_VAR
from fgsam.data.root import ENV_VAR, data_root

#: The release marker OGB checks in the dataset folder (version 1 for every ``ogbn-*`` here).
OGB_RELEASE = "RELEASE_v1.txt"
#: The files of one node split, in ``split/<kind>/``.
OGB_SPLIT_FILES = ("train.csv.gz", "valid.csv.gz", "test.csv.gz")


@dataclass(frozen=True)
class OGBNodeSet:
    """One ``ogbn-*`` dataset: where OGB publishes it and what its folder holds.

    Args:
        name (str): OGB's name, e.g. ``"ogbn-arxiv"``.
        url (str): the published zip (it holds the folder ``download_name``).
        download_name (str): the folder inside the zip, e.g. ``"arxiv"``.
        raw (tuple of str): the raw files OGB reads from ``raw/``.
        split (str): OGB's split kind, the folder under ``split/``.
    """

    name: str
    url: str
    download_name: str
    raw: tuple[str, ...]
    split: str

    @property
    def folder(self) -> str:
        """The dataset folder under the data root, as OGB names it (``ogb/ogbn_arxiv``)."""
        return "ogb/" + self.name.replace("-", "_")


_OGB_URL = "http://snap.stanford.edu/ogb/data/nodeproppred"
_COMMON_RAW = ("edge.csv.gz", "node-feat.csv.gz", "node-label.csv.gz", "num-edge-list.csv.gz",
               "num-node-list.csv.gz")
#: The ``ogbn-*`` datasets fgsam reads, by name.
OGBN_SETS: dict[str, OGBNodeSet] = {
    "ogbn-arxiv": OGBNodeSet("ogbn-arxiv", f"{_OGB_URL}/arxiv.zip", "arxiv",
                             (*_COMMON_RAW[:3], "node_year.csv.gz", *_COMMON_RAW[3:]), "time"),
    "ogbn-products": OGBNodeSet("ogbn-products", f"{_OGB_URL}/products.zip", "products",
                                _COMMON_RAW, "sales_ranking"),
}
# OGB itself decides "raw files present" (and so whether to download) by these two alone
_OGB_CHECKS = ("edge.csv.gz", "node-feat.csv.gz")


def read_ogbn(name: str, root: str | os.PathLike[str] | None = None,
              download: bool | None = None, *, with_split: bool = False
              ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor] | None]:
    r"""``(x, edge_index, y, split)`` of an ``ogbn-*`` dataset, read by OGB's
    ``PygNodePropPredDataset`` (`"Open Graph Benchmark" <https://arxiv.org/abs/2005.00687>`_,
    Hu et al., NeurIPS 2020).

    The files live in ``<data root>/ogb/<name with _>`` (OGB's layout; OGB writes its
    ``processed/`` cache there, so that folder must be writable). ``edge_index`` is as OGB
    builds it (directed for ogbn-arxiv, both directions for ogbn-products) and ``y`` is
    flattened to ``[N]``. When files are missing, OGB downloads the zip if ``download``
    allows (``download=True`` answers OGB's prompt for zips over 1 GB); otherwise, or when
    the download fails, a one-line ``FileNotFoundError`` names the dataset, the files, the
    folder and the URL. With ``with_split``, OGB's node split
    (``split/<kind>/{train,valid,test}.csv.gz``) is checked for before anything is read and
    returned as ``{"train", "valid", "test"}`` index tensors. A raw file (or OGB's
    processed cache) that does not decode raises a one-line ``ValueError`` naming it.

    Args:
        name (str): ``"ogbn-arxiv"`` or ``"ogbn-products"`` (see :data:`OGBN_SETS`).
        root (str, optional): the data root. (default: ``None``: ``$FGSAM_DATA``)
        download (bool, optional): allow downloading. (default: ``None``: unless
            ``$FGSAM_DOWNLOAD=0``)
        with_split (bool, optional): also read OGB's node split. (default: ``False``)

    Example:
        >>> x, edge_index, y, split = read_ogbn("ogbn-arxiv", "datasets", with_split=True)
        >>> split["train"].numel()
        90941
    """
    spec = _spec(name)
    folder = data_root(root) / spec.folder
    if download is None:
        download = os.environ.get(DOWNLOAD_ENV_VAR, "1") not in ("0", "false", "no")
    processed = folder / "processed" / "geometric_data_processed.pt"
    needed = _OGB_CHECKS if processed.is_file() else spec.raw
    missing = [folder / "raw" / f for f in needed if not (folder / "raw" / f).is_file()]
    if folder.is_dir() and not (folder / OGB_RELEASE).is_file():
        # OGB would otherwise stop and ask on stdin whether to delete the folder
        missing.append(folder / OGB_RELEASE)
    if missing and not download:
        missing += _missing_split(spec, folder) if with_split else []
        raise FileNotFoundError(_message(spec, missing, folder, "downloading is disabled"))
    if with_split and not missing:  # nothing will be downloaded: the split must be here
        _require_split(spec, folder)
    dataset = _load(spec, folder, missing)
    data = dataset[0]
    split = None
    if with_split:
        _require_split(spec, folder)  # a downloaded zip that lacked it
        split = _read_split(spec, folder, dataset)
    return data.x, data.edge_index, data.y.reshape(-1), split


def ogbn_folder(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of ``ogbn-*`` dataset ``name`` under the data root."""
    return data_root(root) / _spec(name).folder


def _spec(name: str) -> OGBNodeSet:
    if name not in OGBN_SETS:
        raise ValueError(f"unknown OGB node dataset {name!r}; known: {', '.join(OGBN_SETS)}")
    return OGBN_SETS[name]


def _load(spec: OGBNodeSet, folder: Path, missing: list[Path]):
    from ogb.nodeproppred import PygNodePropPredDataset

    created = not folder.exists()
    try:
        with pyg_safe_globals(), _download_consented():
            return PygNodePropPredDataset(name=spec.name, root=str(folder.parent))
    except (urllib.error.URLError, OSError, TimeoutError, EOFError) as err:
        if created:  # leave no half-made folder behind a failed download
            shutil.rmtree(folder, ignore_errors=True)
        if not missing and isinstance(err, (FileNotFoundError, PermissionError)):
            raise
        if not missing:  # the files were all there: one of them does not decode
            raise _unreadable(spec, folder, err) from err
        raise FileNotFoundError(_message(spec, missing, folder,
                                         f"the download failed ({err})")) from err
    except MemoryError:
        raise
    except Exception as err:  # a corrupt file can make pandas or torch raise almost anything
        raise _unreadable(spec, folder, err) from err


def _missing_split(spec: OGBNodeSet, folder: Path) -> list[Path]:
    where = folder / "split" / spec.split
    if (where / "split_dict.pt").is_file():  # OGB's own shortcut, accepted as it accepts it
        return []
    return [where / f for f in OGB_SPLIT_FILES if not (where / f).is_file()]


def _require_split(spec: OGBNodeSet, folder: Path) -> None:
    missing = _missing_split(spec, folder)
    if missing:
        where = folder / "split" / spec.split
        raise FileNotFoundError(
            f"{spec.name}: missing OGB split files {', '.join(p.name for p in missing)} in "
            f"{where} (the raw files are there, the node split is not); unzip {spec.url} "
            f"again so that its split/{spec.split}/ folder lands in {folder}, or point the "
            f"data root elsewhere with root=/--root or ${ENV_VAR}")


def _read_split(spec: OGBNodeSet, folder: Path, dataset) -> dict[str, Tensor]:
    try:
        split = dataset.get_idx_split()
    except (PermissionError, MemoryError):
        raise
    except Exception as err:  # pandas' or torch's failure on a corrupt split file
        raise _unreadable_split(spec, folder, err) from err
    return {key: torch.as_tensor(split[key], dtype=torch.long).reshape(-1)
            for key in ("train", "valid", "test")}


def _unreadable_split(spec: OGBNodeSet, folder: Path, err: BaseException) -> ValueError:
    import pandas as pd

    where = folder / "split" / spec.split
    for name in OGB_SPLIT_FILES:
        try:
            pd.read_csv(where / name, compression="gzip", header=None).to_numpy(dtype="int64")
        except Exception as own:  # the parse OGB does, one file at a time
            return unreadable(where / name, "a gzip-compressed CSV of node ids (OGB's split)",
                              own)
    return unreadable(where, f"OGB's {spec.split} split of {spec.name}", err)


def _unreadable(spec: OGBNodeSet, folder: Path, err: BaseException) -> ValueError:
    """The error naming the first raw file that does not decode, else the cache or folder."""
    import numpy as np
    import pandas as pd

    for name in spec.raw:
        path = folder / "raw" / name
        if not path.is_file():
            continue
        try:
            pd.read_csv(path, compression="gzip", header=None).to_numpy(dtype=np.float64)
        except Exception as own:  # the parse OGB does, one file at a time
            return unreadable(path, "a gzip-compressed CSV of numbers (OGB's raw layout)", own)
    processed = folder / "processed" / "geometric_data_processed.pt"
    if processed.is_file():
        return unreadable(processed, "OGB's processed cache (delete it to rebuild it from raw/)",
                          err)
    return unreadable(folder / "raw", f"OGB's raw {spec.name} CSVs, consistent in size", err)


def pyg_safe_globals() -> contextlib.AbstractContextManager:
    """Allow PyG's own data classes in OGB's ``torch.load`` of its processed caches (node
    and graph datasets alike).

    OGB calls ``torch.load`` without ``weights_only``; since PyTorch 2.6 that refuses the
    ``Data`` classes OGB itself saved there. They are allowlisted for good
    (``add_safe_globals``), not inside a ``safe_globals`` block: leaving such a block
    restores the list as it was before it, which drops what PyG registers when OGB first
    imports parts of it inside, and a later load then fails.
    """
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage])
    return contextlib.nullcontext()


@contextlib.contextmanager
def _download_consented() -> Iterator[None]:
    """Skip OGB's stdin prompt before a download over 1 GB: reaching OGB's download at all
    means ``download`` allowed it, and a prompt would hang a job without a terminal."""
    import ogb.nodeproppred.dataset_pyg as dataset_pyg

    asked = dataset_pyg.decide_download
    dataset_pyg.decide_download = _consent
    try:
        yield
    finally:
        dataset_pyg.decide_download = asked


def _consent(url: str) -> bool:
    from urllib.request import urlopen

    urlopen(url).close()  # the reachability probe OGB's own check makes
    return True


def _message(spec: OGBNodeSet, missing: list[Path], folder: Path, reason: str) -> str:
    names = ", ".join(os.path.relpath(p, folder) for p in missing)
    return (f"missing {spec.name} files {names} in {folder} (raw files go in "
            f"{folder / 'raw'}, {OGB_RELEASE} in {folder}); {reason}. Get {spec.url} and "
            f"unzip it into {folder.parent} (it holds the folder {spec.download_name!r}: "
            f"rename it to {folder.name}), or point the data root elsewhere with "
            f"root=/--root or ${ENV_VAR}")


__all__ = ["OGBN_SETS", "OGB_RELEASE", "OGB_SPLIT_FILES", "OGBNodeSet", "ogbn_folder",
           "pyg_safe_globals", "read_ogbn"]
