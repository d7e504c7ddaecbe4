"""Node-classification datasets with their standard splits (ordinary, non-episodic)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from fgsam.data.catalog import dataset_info, list_datasets
from fgsam.data.check_graph import check_graph
from fgsam.data.files import fetch
from fgsam.data.graph_data import graph_data
from fgsam.data.load_graph import load_graph
from fgsam.data.node_split import per_class_split
from fgsam.data.node_synthetic import SYNTHETIC_PREFIX, parse_synthetic, synthetic_node_data
from fgsam.data.node_synthetic import synthetic_splits as _synthetic_splits
from fgsam.data.ogbn_reader import OGBN_SETS, read_ogbn
from fgsam.data.planetoid import read_planetoid_public_split
from fgsam.data.synthetic import GraphShape

Root = str | os.PathLike[str] | None

_PLANETOID = ("cora", "citeseer")
_PER_CLASS = "per-class-20/30"


def _node_splits() -> dict[str, str]:
    kinds = {name: "planetoid-public" if name in _PLANETOID
             else "ogb" if name in OGBN_SETS else _PER_CLASS
             for name in list_datasets("graph")}
    return {**kinds, **_synthetic_splits()}


#: The split of every dataset :func:`load_node_dataset` knows, by name (``split`` of the
#: dataset, less the ``(seed=...)`` of a seeded one): the Planetoid public split, OGB's
#: split, the per-class 20/30 split of Shchur et al., or a random split of a synthetic shape.
NODE_SPLITS: dict[str, str] = _node_splits()


@dataclass(frozen=True, eq=False)
class NodeDataset:
    """A node-classification graph and its train/validation/test node split.

    Args:
        name (str): the dataset, e.g. ``"cora"``, ``"ogbn-arxiv"``,
            ``"synthetic:ogbn-products@0.1"``.
        data (torch_geometric.data.Data): dense float32 ``x [N, F]``, undirected coalesced
            ``edge_index`` without self-loops, long ``y [N]`` (``-1``: no label).
        num_classes (int): number of classes.
        train_idx (torch.Tensor): sorted ``torch.long`` training node ids.
        val_idx (torch.Tensor): sorted validation node ids.
        test_idx (torch.Tensor): sorted test node ids.
        split (str): how the split was made, e.g. ``"planetoid-public"``, ``"ogb"``,
            ``"per-class-20/30(seed=0)"``, ``"random-0.537/0.176(seed=0)"``.
        evaluator (str, optional): the OGB dataset name for
            ``ogb.nodeproppred.Evaluator``, else ``None``.

    The three index sets are checked on construction: 1-D ``torch.long``, sorted, distinct,
    within the nodes, disjoint, and labelled; a violation raises a one-line ``ValueError``.
    Datasets compare by identity.

    Example:
        >>> ds = load_node_dataset("cora")
        >>> out = model(ds.data.x, ds.data.edge_index)
        >>> ds.accuracy(out, ds.val_idx)
    """

    name: str
    data: Data
    num_classes: int
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    split: str
    evaluator: str | None = None

    def __post_init__(self) -> None:
        n = int(self.data.num_nodes)
        x, y = self.data.x, self.data.y
        if not isinstance(x, Tensor) or x.layout != torch.strided or x.dim() != 2 \
                or x.dtype != torch.float32 or x.size(0) != n:
            raise ValueError(f"{self.name}: data.x must be a dense float32 [N, F] tensor with "
                             f"N={n}, got {getattr(x, 'dtype', type(x))} {tuple(x.shape)}")
        if y.dtype != torch.long or y.shape != (n,):
            raise ValueError(f"{self.name}: data.y must be torch.long [{n}], got {y.dtype} "
                             f"{tuple(y.shape)}")
        seen = torch.zeros(n, dtype=torch.bool)
        for key in ("train_idx", "val_idx", "test_idx"):
            idx = getattr(self, key)
            _check_index(idx, key, n, self.name)
            if seen[idx].any():
                raise ValueError(f"{self.name}: {key} shares {int(seen[idx].sum())} nodes with "
                                 f"an earlier split (first node {int(idx[seen[idx]][0])})")
            seen[idx] = True
            unlabelled = y[idx] < 0
            if unlabelled.any():
                raise ValueError(f"{self.name}: {key} holds {int(unlabelled.sum())} unlabelled "
                                 f"nodes (first node {int(idx[unlabelled][0])})")

    def accuracy(self, pred: Tensor, idx: Tensor) -> float:
        """Accuracy of ``pred`` on the nodes ``idx``: OGB's ``Evaluator(...).eval`` (its
        ``"acc"``) when :attr:`evaluator` is set, else the fraction of correct nodes.

        Args:
            pred (torch.Tensor): predicted class ids ``[N]`` (an integer tensor) or logits
                ``[N, C]`` (any device).
            idx (torch.Tensor): node ids (e.g. :attr:`test_idx`) or a boolean mask ``[N]``.

        Example:
            >>> ds.accuracy(model(ds.data.x, ds.data.edge_index), ds.test_idx)
            0.81
        """
        n, c = int(self.data.num_nodes), self.num_classes
        if not isinstance(pred, Tensor):
            raise ValueError(f"pred must be a tensor, got {type(pred).__name__}")
        pred = pred.detach()
        if pred.dim() == 2 and pred.shape == (n, c):
            pred = pred.argmax(dim=-1)
        elif pred.dim() != 1 or pred.numel() != n:
            raise ValueError(f"pred has shape {tuple(pred.shape)}; {self.name} needs [N] class "
                             f"ids or [N, C] logits with N={n} nodes and C={c} classes")
        elif pred.is_floating_point() or pred.is_complex():
            raise ValueError(f"pred [N] must hold integer class ids, got {pred.dtype} (pass "
                             f"logits as [N, C])")
        y = self.data.y
        idx = _node_ids(idx, n).to(y.device)  # data may have been moved to an accelerator
        y_pred, y_true = pred.to(y.device)[idx].to(torch.long), y[idx]
        unlabelled = y_true < 0
        if unlabelled.any():
            raise ValueError(f"idx holds {int(unlabelled.sum())} unlabelled nodes (label -1), "
                             f"first node {int(idx[unlabelled][0])}: they have no accuracy")
        if self.evaluator is not None:
            result = _ogb_evaluator(self.evaluator).eval(
                {"y_true": y_true.reshape(-1, 1), "y_pred": y_pred.reshape(-1, 1)})
            return float(result["acc"])
        return float((y_pred == y_true).to(torch.float64).mean())

    def summary(self) -> dict:
        """The dataset in numbers (JSON-ready): ``name``, ``nodes``, ``edges`` (undirected),
        ``features``, ``classes``, ``train``/``val``/``test`` sizes, ``split``,
        ``evaluator``."""
        return {"name": self.name, "nodes": int(self.data.num_nodes),
                "edges": int(self.data.edge_index.size(1)) // 2,
                "features": int(self.data.x.size(1)), "classes": int(self.num_classes),
                "train": int(self.train_idx.numel()), "val": int(self.val_idx.numel()),
                "test": int(self.test_idx.numel()), "split": self.split,
                "evaluator": self.evaluator}


def load_node_dataset(name: str, root: Root = None, *, split_seed: int = 0,
                      download: bool | None = None) -> NodeDataset:
    r"""A node-classification dataset with its standard split (see :data:`NODE_SPLITS`).

    By dataset:

    - ``cora``, ``citeseer``: the public Planetoid split of `"Semi-Supervised
      Classification with Graph Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_
      (Kipf and Welling, ICLR 2017): 20 training nodes a class (140 / 120), 500 validation,
      1000 test, read from the raw Planetoid files; the graph is :func:`load_graph`'s.
    - ``ogbn-arxiv``, ``ogbn-products``: OGB's own loader and split (``get_idx_split()``)
      and ``evaluator`` set to the dataset (`"Open Graph Benchmark"
      <https://arxiv.org/abs/2005.00687>`_, Hu et al., NeurIPS 2020); edges are made
      undirected with :func:`torch_geometric.utils.to_undirected`, as OGB's examples do.
      Missing split files raise a one-line ``FileNotFoundError`` before anything is read.
    - every other graph of the catalog: :func:`load_graph`'s graph (its class split is
      not used) and the seeded per-class split of Shchur et al. (20 training and 30
      validation nodes a class, all other labelled nodes test; a class of
      :math:`2 \leq n \leq 50` labelled nodes gives :math:`\max(1, \lfloor 2n/5 \rfloor)`
      training and :math:`\lfloor 3r/5 \rfloor` validation nodes of the :math:`r`
      remaining ones, the rest test, and a class of one node a test node; nodes labelled
      ``-1`` are in no split; see :func:`~fgsam.data.node_split.per_class_split`).
    - ``synthetic:<shape>`` or ``synthetic:<shape>@<scale>``: :func:`synthetic_node_dataset`
      of that shape and scale (default ``1``), with ``seed=0``.

    Files come from the data root as for :func:`load_graph` (``root``, else
    ``$FGSAM_DATA``); nothing is written there except OGB's ``processed/`` cache.

    Args:
        name (str): a name of :data:`NODE_SPLITS` (case-insensitive), optionally with
            ``@<scale>`` for a synthetic shape.
        root (str, optional): the data root. (default: ``None``)
        split_seed (int, optional): seed of a seeded split; published splits ignore it.
            (default: ``0``)
        download (bool, optional): allow downloading missing files. (default: ``None``:
            unless ``$FGSAM_DOWNLOAD=0``)

    Example:
        >>> ds = load_node_dataset("citeseer")
        >>> ds.summary()["train"], ds.split
        (120, 'planetoid-public')
    """
    if isinstance(split_seed, bool) or not isinstance(split_seed, int):
        raise ValueError(f"split_seed must be an int, got {split_seed!r}")
    key = name.lower() if isinstance(name, str) else name
    if isinstance(key, str) and key.startswith(SYNTHETIC_PREFIX):
        shape, scale = parse_synthetic(key)
        return synthetic_node_dataset(shape, scale, split_seed=split_seed)
    if key not in NODE_SPLITS:
        raise ValueError(f"unknown node dataset {name!r}; valid names: {', '.join(NODE_SPLITS)}"
                         f" (a synthetic shape may take @<scale>, e.g. synthetic:ogbn-arxiv@0.1)")
    if key in OGBN_SETS:
        return _ogb(key, root, download)
    data, _ = load_graph(key, root, download=download)
    num_classes = int(dataset_info(key).stats["classes"])
    if key in _PLANETOID:
        info = dataset_info(key)
        folder = fetch(info.files[0], root, download).parent
        train, val, test = read_planetoid_public_split(folder, info.options["prefix"])
        return NodeDataset(key, data, num_classes, train, val, test, "planetoid-public")
    train, val, test = per_class_split(data.y, 20, 30, seed=split_seed)
    return NodeDataset(key, data, num_classes, train, val, test,
                       f"{_PER_CLASS}(seed={split_seed})")


def synthetic_node_dataset(shape: str | GraphShape, scale: float = 1.0, *, seed: int = 0,
                           split_seed: int = 0) -> NodeDataset:
    r"""A synthetic graph of a benchmark's shape, scaled, with a seeded random split.

    The graph is :func:`~fgsam.data.synthetic_graph` (a contextual SBM) of ``shape`` with
    ``num_nodes`` and ``num_edges`` multiplied by ``scale`` (rounded; an even edge count
    for a symmetric shape), so the average degree is kept. A directed shape (ogbn-arxiv)
    is made undirected with :func:`torch_geometric.utils.to_undirected` (about twice the
    edge columns). Sparse (bag-of-words) shapes get their features densified: corafull
    takes about 0.7 GB at ``scale=1``. The split is a seeded uniform random one with OGB's
    published fractions for the OGB shapes (ogbn-arxiv 90,941/29,799/48,603 of 169,343,
    ogbn-products 196,615/39,323/2,213,091 of 2,449,029: exactly these at ``scale=1``) and
    60/20/20 otherwise.

    Args:
        shape (str or GraphShape): a name of :data:`~fgsam.data.SHAPES` or a shape.
        scale (float, optional): size factor, ``0 < scale <= 1``. (default: ``1.0``)
        seed (int, optional): seed of the graph. (default: ``0``)
        split_seed (int, optional): seed of the split. (default: ``0``)

    Example:
        >>> ds = synthetic_node_dataset("ogbn-products", 0.1)
        >>> ds.name, ds.split
        ('synthetic:ogbn-products@0.1', 'random-0.0803/0.0161(seed=0)')
    """
    for label, value in (("seed", seed), ("split_seed", split_seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label} must be an int, got {value!r}")
    name, data, num_classes, (train, val, test), kind = synthetic_node_data(
        shape, scale, seed, split_seed)
    return NodeDataset(name, data, num_classes, train, val, test, f"{kind}(seed={split_seed})")


def _ogb(name: str, root: Root, download: bool | None) -> NodeDataset:
    x, edge_index, y, split = read_ogbn(name, root, download, with_split=True)
    info = dataset_info(name)
    num_classes = int(info.stats["classes"])
    # checked as read: graph_data's cast to long would hide a fractional or NaN label
    check_graph(Data(x=x, edge_index=edge_index, y=y), name, num_classes=num_classes)
    data = graph_data(x, edge_index, y, name, features="published")
    assert split is not None  # with_split=True
    train, val, test = (split[k].sort().values for k in ("train", "valid", "test"))
    return NodeDataset(name, data, num_classes, train, val, test, "ogb", evaluator=name)


def _check_index(idx: object, key: str, n: int, name: str) -> None:
    if not isinstance(idx, Tensor) or idx.dtype != torch.long or idx.dim() != 1:
        what = f"{idx.dtype} {tuple(idx.shape)}" if isinstance(idx, Tensor) else type(idx)
        raise ValueError(f"{name}: {key} must be a 1-D torch.long tensor, got {what}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"{name}: {key} spans {int(idx.min())}..{int(idx.max())}, outside the "
                         f"node ids 0..{n - 1}")
    if idx.numel() > 1 and not bool((idx[1:] > idx[:-1]).all()):
        raise ValueError(f"{name}: {key} must be sorted and without repeats")


def _node_ids(idx: Tensor, n: int) -> Tensor:
    idx = torch.as_tensor(idx).detach().cpu()
    if idx.dtype == torch.bool:
        if idx.shape != (n,):
            raise ValueError(f"a boolean idx must be a mask [N] with N={n}, got "
                             f"{tuple(idx.shape)}")
        idx = idx.nonzero().reshape(-1)
    if idx.is_floating_point() or idx.dim() != 1:
        raise ValueError(f"idx must be 1-D integer node ids or a boolean mask [N], got "
                         f"{idx.dtype} {tuple(idx.shape)}")
    if idx.numel() == 0:
        raise ValueError("idx is empty: an accuracy over no node is undefined")
    if int(idx.min()) < 0 or int(idx.max()) >= n:
        raise ValueError(f"idx spans {int(idx.min())}..{int(idx.max())}, outside the node ids "
                         f"0..{n - 1}")
    return idx.to(torch.long)


@functools.cache
def _ogb_evaluator(name: str):
    from ogb.nodeproppred import Evaluator

    return Evaluator(name)


__all__ = ["NODE_SPLITS", "NodeDataset", "load_node_dataset", "synthetic_node_dataset"]
