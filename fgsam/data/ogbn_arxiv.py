"""ogbn-arxiv through OGB's own loader (``ogb.nodeproppred.PygNodePropPredDataset``).

The reader is the one of every ``ogbn-*`` dataset (:func:`fgsam.data.ogbn_reader.read_ogbn`);
this module keeps ogbn-arxiv's names.
"""

from __future__ import annotations

import os

from torch import Tensor

from fgsam.data.ogbn_reader import OGB_RELEASE, OGBN_SETS, read_ogbn

_ARXIV = OGBN_SETS["ogbn-arxiv"]
#: Where OGB publishes the dataset (a zip of ``arxiv/``).
OGBN_ARXIV_URL = _ARXIV.url
#: OGB's folder under the data root and the raw files it reads from it.
OGBN_ARXIV_DIR = _ARXIV.folder
OGBN_ARXIV_RAW = _ARXIV.raw
OGBN_ARXIV_RELEASE = OGB_RELEASE


def read_ogbn_arxiv(root: str | os.PathLike[str] | None = None,
                    download: bool | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, edge_index, y)`` of ogbn-arxiv (directed citations as OGB stores them).

    The files live in ``<data root>/ogb/ogbn_arxiv`` (OGB's layout; OGB writes its
    ``processed/`` cache there, so that folder must be writable: the one exception to a
    read-only data root). When they are missing, OGB downloads them if ``download``
    allows; otherwise, or when the download fails, a ``FileNotFoundError`` names the
    files, the folder and the URL. A raw file (or OGB's processed cache) that does not
    decode raises a one-line ``ValueError`` naming it.

    Args:
        root (str, optional): the data root. (default: ``None``: ``$FGSAM_DATA``)
        download (bool, optional): allow downloading. (default: ``None``: unless
            ``$FGSAM_DOWNLOAD=0``)

    Example:
        >>> x, edge_index, y = read_ogbn_arxiv("datasets", download=False)
    """
    x, edge_index, y, _ = read_ogbn("ogbn-arxiv", root, download)
    return x, edge_index, y


__all__ = ["OGBN_ARXIV_DIR", "OGBN_ARXIV_RAW", "OGBN_ARXIV_RELEASE", "OGBN_ARXIV_URL",
           "read_ogbn_arxiv"]
