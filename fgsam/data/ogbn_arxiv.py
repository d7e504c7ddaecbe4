"""ogbn-arxiv through OGB's own loader (``ogb.nodeproppred.PygNodePropPredDataset``)."""

from __future__ import annotations

import os
import shutil
import urllib.error
from pathlib import Path

import torch
from torch import Tensor

from fgsam.data.file_errors import unreadable
from fgsam.data.files import DOWNLOAD_ENV_VAR
from fgsam.data.root import ENV_VAR, data_root

#: Where OGB publishes the dataset (a zip of ``ogbn_arxiv/``).
OGBN_ARXIV_URL = "http://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip"
#: OGB's folder under ``<data root>/ogb`` and the raw files it reads from it.
OGBN_ARXIV_DIR = "ogb/ogbn_arxiv"
OGBN_ARXIV_RAW = ("edge.csv.gz", "node-feat.csv.gz", "node-label.csv.gz", "node_year.csv.gz",
                  "num-edge-list.csv.gz", "num-node-list.csv.gz")
OGBN_ARXIV_RELEASE = "RELEASE_v1.txt"


def read_ogbn_arxiv(root: str | os.PathLike[str] | None = None,
                    download: bool | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` of ogbn-arxiv (directed citations as OGB stores them).

    The files live in ``<data root>/ogb/ogbn_arxiv`` (OGB's layout; OGB writes its
    ``processed/`` cache there, so that folder must be writable). When they are missing,
    OGB downloads them if ``download`` allows; otherwise, or when the download fails, a
    ``FileNotFoundError`` names the files, the folder and the URL. A raw file (or OGB's
    processed cache) that does not decode raises a one-line ``ValueError`` naming it.

    Example:
        >>> x, edge_index, y = read_ogbn_arxiv("datasets", download=False)
    """
    base = data_root(root) / "ogb"
    folder = data_root(root) / OGBN_ARXIV_DIR
    if download is None:
        download = os.environ.get(DOWNLOAD_ENV_VAR, "1") not in ("0", "false", "no")
    processed = folder / "processed" / "geometric_data_processed.pt"
    missing = [folder / "raw" / name for name in OGBN_ARXIV_RAW
               if not (folder / "raw" / name).is_file()]
    if folder.is_dir() and not (folder / OGBN_ARXIV_RELEASE).is_file():
        # OGB would otherwise stop and ask on stdin whether to delete the folder
        missing.append(folder / OGBN_ARXIV_RELEASE)
    if missing and not processed.is_file() and not download:
        raise FileNotFoundError(_message(missing, folder, "downloading is disabled"))
    from ogb.nodeproppred import PygNodePropPredDataset

    created = not folder.exists()
    try:
        with _pyg_safe_globals():
            dataset = PygNodePropPredDataset(name="ogbn-arxiv", root=str(base))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        if created:  # leave no half-made folder behind a failed download
            shutil.rmtree(folder, ignore_errors=True)
        if not missing and isinstance(err, (FileNotFoundError, PermissionError)):
            raise
        if not missing:  # the files were all there: one of them does not decode
            raise _unreadable(folder, processed, err) from err
        raise FileNotFoundError(_message(missing, folder,
                                         f"the download failed ({err})")) from err
    except MemoryError:
        raise
    except Exception as err:  # a corrupt file can make pandas or torch raise almost anything
        raise _unreadable(folder, processed, err) from err
    data = dataset[0]
    return data.x, data.edge_index, data.y.reshape(-1)


def _unreadable(folder: Path, processed: Path, err: BaseException) -> ValueError:
    """The error naming the first raw file that does not decode, else the cache or folder."""
    import numpy as np
    import pandas as pd

    for name in OGBN_ARXIV_RAW:
        path = folder / "raw" / name
        if not path.is_file():
            continue
        try:
            pd.read_csv(path, compression="gzip", header=None).to_numpy(dtype=np.float64)
        except Exception as own:  # the parse OGB does, one file at a time
            return unreadable(path, "a gzip-compressed CSV of numbers (OGB's raw layout)", own)
    if processed.is_file():
        return unreadable(processed, "OGB's processed cache (delete it to rebuild it from raw/)",
                          err)
    return unreadable(folder / "raw", "OGB's raw ogbn-arxiv CSVs, consistent in size", err)


def _pyg_safe_globals():
    """Allow PyG's own storage classes in OGB's ``torch.load`` of its processed cache.

    OGB calls ``torch.load`` without ``weights_only``; since PyTorch 2.6 that refuses the
    ``Data`` classes OGB itself saved there.
    """
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    return torch.serialization.safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


def _message(missing: list[Path], folder: Path, reason: str) -> str:
    names = ", ".join(p.name for p in missing)
    return (f"missing ogbn-arxiv files {names} in {folder} (raw files go in {folder / 'raw'}, "
            f"{OGBN_ARXIV_RELEASE} in {folder}); {reason}. Get {OGBN_ARXIV_URL} and unzip it "
            f"into {folder.parent} (it holds the folder 'arxiv': rename it to {folder.name}), "
            f"or point the data root elsewhere with root=/--root or ${ENV_VAR}")


__all__ = ["OGBN_ARXIV_DIR", "OGBN_ARXIV_RAW", "OGBN_ARXIV_URL", "read_ogbn_arxiv"]
