"""``load_graph``: one call from a catalog name to a clean graph and its class split."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from fgsam.data.attributed_mat import read_attributed_mat
from fgsam.data.catalog import dataset_info, list_datasets
from fgsam.data.check_graph import check_class_split, check_graph
from fgsam.data.class_split import ClassSplit, class_sizes
from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.edge_list import read_edge_list, read_node_labels
from fgsam.data.files import FileSpec, fetch
from fgsam.data.gpn_format import assemble_gpn, read_gpn_mat, read_gpn_network
from fgsam.data.graph_data import graph_data
from fgsam.data.ogbn_reader import read_ogbn
from fgsam.data.planetoid import read_planetoid
from fgsam.data.sparse_graph_npz import read_sparse_graph_npz
from fgsam.data.structural_features import STRUCTURAL_FEATURES, structural_features

Root = str | os.PathLike[str] | None
#: What a format reader returns: x, edge_index, y and reader-specific extras.
Read = tuple[Tensor, Tensor, Tensor, dict[str, Any]]


def load_graph(name: str | DatasetInfo, root: Root = None, *, split_seed: int = 0,
               download: bool | None = None) -> tuple[Data, ClassSplit]:
    r"""A few-shot graph of the catalog and its class split.

    Files come from the data root (``root``, else ``$FGSAM_DATA``, else ``./datasets``),
    each checked against the catalog's sha256 (a mismatch raises ``ValueError``). A missing
    file is downloaded from its published URL when ``download`` allows (default: unless
    ``$FGSAM_DOWNLOAD=0``); otherwise ``FileNotFoundError`` names the file, its folder and
    its URL. Nothing is written to the data root except by OGB (``ogbn-*``'s ``processed/``).

    The class split is, by dataset: the published TENT/FGSAM JSON (CoraFull, DBLP,
    Amazon-Electronics, ogbn-arxiv: ``source="published"``); TLP's 3/2/2 (Cora, Cora-ML) or
    2/2/2 (CiteSeer) shuffle of the class ids, seeded (``"tlp-3/2/2(seed=0)"``); GPN's split
    (Amazon-Clothing: the ``_test.mat`` classes test, a seeded draw of the ``_train.mat``
    classes validates, ``"gpn(seed=0)"``); otherwise a seeded random split
    (``"random(seed=0)"``, proportions in ``dataset_info(name).notes``).

    Args:
        name (str or DatasetInfo): catalog name (see :func:`fgsam.data.list_datasets` with
            ``kind="graph"``), or an entry of your own in one of the catalog's formats
            (e.g. a catalog entry with other files via ``dataclasses.replace``).
        root (str, optional): the data root. (default: ``None``)
        split_seed (int, optional): seed of the class split where it is not published; it
            never affects published splits. (default: ``0``)
        download (bool, optional): allow downloading missing files. (default: ``None``)

    Every graph is checked as read (:func:`~fgsam.data.check_graph`): non-finite features,
    labels that are not class ids (fractional, below ``-1``, at least ``stats["classes"]``),
    edge ids outside the nodes and a class split naming classes no node has raise a
    one-line ``ValueError`` naming the dataset, the field, the count and the first
    positions; a truncated or undecodable file raises one naming the file.

    Returns:
        ``(data, split)``: a ``Data`` with float32 ``x [N, F]``, undirected coalesced
        ``edge_index`` without self-loops, long ``y [N]`` (``-1`` for a node without a
        label), ``name`` and ``features`` (how ``x`` was made), and a
        :class:`~fgsam.data.ClassSplit`.

    Example:
        >>> data, split = load_graph("cora")
        >>> split, dropped = split.feasible(data.y, min_nodes=3 + 10)
        >>> sampler = EpisodeSampler(data.y, split.train, n_way=2, k_shot=3, q_query=10)
    """
    info = name if isinstance(name, DatasetInfo) else dataset_info(name)
    if info.kind != "graph" or info.format not in _READERS:
        raise ValueError(f"{info.name!r} is a {info.kind} dataset in format {info.format!r}; "
                         f"load_graph reads the graph formats {', '.join(_READERS)}: "
                         f"{', '.join(list_datasets('graph'))}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, int):
        raise ValueError(f"split_seed must be an int, got {split_seed!r}")
    x, edge_index, y, extra = _READERS[info.format](info, root, download)
    # checked as read: graph_data's cast to long would hide a fractional or NaN label
    check_graph(Data(x=x, edge_index=edge_index, y=y), info.name,
                num_classes=info.stats.get("classes"))
    features = info.options.get("features", "published")
    if features == "structural":
        edge_index = graph_data(x, edge_index, y, info.name).edge_index
        x = structural_features(edge_index, int(y.numel()))
        features = STRUCTURAL_FEATURES
    data = graph_data(x, edge_index, y, info.name, features=features)
    split = _class_split(info, data.y, split_seed, root, download, extra)
    return data, check_class_split(split, data.y, info.name)


def _spec(info: DatasetInfo, suffix: str) -> FileSpec:
    matches = [spec for spec in info.files if spec.path.endswith(suffix)]
    assert len(matches) == 1, (info.name, suffix)  # catalog invariant
    return matches[0]


def _read_planetoid(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    paths = [fetch(spec, root, download) for spec in info.files]
    x, edge_index, y = read_planetoid(paths[0].parent, info.options["prefix"])
    return x, edge_index, y, {}


def _read_npz(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    return (*read_sparse_graph_npz(fetch(_spec(info, ".npz"), root, download)), {})


def _read_mat(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    return (*read_attributed_mat(fetch(_spec(info, ".mat"), root, download)), {})


def _read_edge_list(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    opts = info.options
    edges = fetch(_spec(info, opts["edges"]), root, download)
    labels = fetch(_spec(info, opts["labels"]), root, download)
    edge_index = read_edge_list(edges, opts["delimiter"], opts["header"])
    y = read_node_labels(labels, None, opts["delimiter"], opts["header"])
    num_nodes = max(int(y.numel()), int(edge_index.max()) + 1)
    if num_nodes > y.numel():
        y = torch.cat([y, y.new_full((num_nodes - y.numel(),), -1)])
    return torch.zeros(num_nodes, 0), edge_index, y, {}


def _read_gpn(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    edge_index = read_gpn_network(fetch(_spec(info, "_network"), root, download))
    train = read_gpn_mat(fetch(_spec(info, "_train.mat"), root, download))
    test = read_gpn_mat(fetch(_spec(info, "_test.mat"), root, download))
    x, y = assemble_gpn(edge_index, [train, test])
    return x, edge_index, y, {"train_classes": train.classes, "test_classes": test.classes}


def _read_gpn_subset(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    """The nodes of the ``_test.mat`` file alone, their induced subgraph, classes 0..C-1."""
    edge_index = read_gpn_network(fetch(_spec(info, "_network"), root, download))
    part = read_gpn_mat(fetch(_spec(info, "_test.mat"), root, download))
    order = torch.argsort(part.index)  # PyG's subgraph numbers the kept nodes in id order
    num_nodes = max(int(edge_index.max()), int(part.index.max())) + 1
    edge_index, _ = subgraph(part.index[order], edge_index, relabel_nodes=True,
                             num_nodes=num_nodes)
    y = torch.searchsorted(torch.tensor(sorted(part.classes)), part.y[order])
    return part.x[order], edge_index, y, {}


def _read_ogb(info: DatasetInfo, root: Root, download: bool | None) -> Read:
    x, edge_index, y, _ = read_ogbn(info.name, root, download)
    return x, edge_index, y, {}


_READERS: dict[str, Callable[[DatasetInfo, Root, bool | None], Read]] = {
    "planetoid": _read_planetoid,
    "npz": _read_npz,
    "mat": _read_mat,
    "edge_list": _read_edge_list,
    "gpn": _read_gpn,
    "gpn-subset": _read_gpn_subset,
    "ogb": _read_ogb,
}


def _class_split(info: DatasetInfo, y: Tensor, seed: int, root: Root, download: bool | None,
                 extra: dict[str, Any]) -> ClassSplit:
    how = info.options["split"]
    classes = sorted(class_sizes(y))
    if how["kind"] == "published":
        return ClassSplit.from_json(fetch(_spec(info, "_class_split.json"), root, download))
    if how["kind"] == "tlp":
        counts = tuple(how["counts"])
        source = f"tlp-{'/'.join(map(str, counts))}(seed={seed})"
        return ClassSplit.random(classes, counts, seed, source=source)
    if how["kind"] == "gpn":
        return _gpn_split(extra["train_classes"], extra["test_classes"], how["val"], seed)
    sizes = class_sizes(y)
    eligible = [c for c in classes if sizes[c] >= how["min_nodes"]]
    return ClassSplit.random(classes, (-1, how["val"], how["test"]), seed,
                             eligible_eval=eligible)


def _gpn_split(train_classes: list[int], test_classes: list[int], num_val: int,
               seed: int) -> ClassSplit:
    pool = sorted(train_classes)
    if num_val > len(pool):
        raise ValueError(f"GPN split: {num_val} validation classes requested but the _train.mat "
                         f"file has only {len(pool)} classes")
    gen = torch.Generator().manual_seed(seed)
    picked = set(torch.randperm(len(pool), generator=gen)[:num_val].tolist())
    val = [c for i, c in enumerate(pool) if i in picked]
    train = [c for i, c in enumerate(pool) if i not in picked]
    return ClassSplit(train, val, sorted(test_classes), source=f"gpn(seed={seed})")


__all__ = ["load_graph"]
