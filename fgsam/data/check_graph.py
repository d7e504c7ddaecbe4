"""``check_graph``: refuse a few-shot graph whose features, labels, edges or class split would
train silently wrong."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from fgsam.data.class_split import SPLITS, ClassSplit

#: How many bad positions a message quotes.
SHOWN = 3


def check_graph(data: Data, name: str | None = None, *, num_classes: int | None = None,
                split: ClassSplit | None = None) -> Data:
    r"""Refuse a graph that training would get silently wrong, with a one-line
    ``ValueError`` naming the dataset, the field, how many entries are bad and the first
    few positions.

    One NaN in one feature row is enough to make every prototype distance NaN and every
    few-shot task score exactly chance, with no error anywhere; this check is meant to run
    where a graph enters training. It checks:

    - ``x``: a tensor ``[N, F]`` (dense or sparse) whose every entry is finite;
    - ``y``: ``[N]`` integer class ids (integral floats are accepted), ``>= 0`` or the
      documented ``-1`` for an unlabelled node, below ``num_classes`` when it is known,
      with at least one labelled node;
    - ``edge_index``: a ``torch.long`` tensor ``[2, E]`` with every id in ``[0, N)``;
    - ``edge_weight`` and ``edge_attr``, if present: finite;
    - ``split``, if given: every class it names has a node in ``y``.

    The cost is a few reductions per tensor (a finite sum proves a tensor finite without
    an ``[N, F]`` mask); positions are located only once something is wrong.

    Args:
        data (torch_geometric.data.Data): the graph.
        name (str, optional): the dataset, for messages. (default: ``data.name`` if set,
            else ``"graph"``)
        num_classes (int, optional): labels must be below it; ``None`` skips that
            check. (default: ``None``)
        split (ClassSplit, optional): a class split whose classes must all occur in
            ``y``. (default: ``None``)

    Returns:
        ``data``, unchanged.

    Example:
        >>> x = torch.ones(3, 2)
        >>> x[1, 0] = float("nan")
        >>> data = Data(x=x, edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, -1]))
        >>> check_graph(data, "toy")
        Traceback (most recent call last):
            ...
        ValueError: dataset 'toy': x has 1 non-finite entry (NaN) in 1 row (first at row 1, ...
    """
    label = name if name is not None else str(getattr(data, "name", None) or "graph")
    where = f"dataset {label!r}"
    if not isinstance(data, Data):
        raise ValueError(f"{where}: expected a torch_geometric.data.Data, got "
                         f"{type(data).__name__}")
    x = _tensor(data, "x", where, "node features [num_nodes, num_features]")
    if x.dim() != 2:
        raise ValueError(f"{where}: x has shape {list(x.shape)}; expected [num_nodes, "
                         f"num_features] (2 dimensions)")
    num_nodes = int(x.size(0))
    _check_features(x, where)
    _check_labels(_tensor(data, "y", where, f"labels [{num_nodes}]"), num_nodes, num_classes,
                  where)
    _check_edges(_tensor(data, "edge_index", where, "node ids [2, num_edges]"), num_nodes,
                 where)
    for key in ("edge_weight", "edge_attr"):
        value = getattr(data, key, None)
        if isinstance(value, Tensor):
            _check_finite(value, key, where, "fix or drop those edges")
    if split is not None:
        check_class_split(split, data.y, label)
    return data


def check_class_split(split: ClassSplit, y: Tensor, name: str = "graph") -> ClassSplit:
    """Refuse a class split that names classes no node of ``y`` has.

    Such a class can never be sampled: it would shrink every N-way task pool without a
    word. :meth:`ClassSplit.feasible` reports it among the dropped classes (with 0
    nodes); this refuses it.

    Args:
        split (ClassSplit): the split.
        y (torch.Tensor): node labels ``[N]`` (negative: unlabelled).
        name (str, optional): the dataset, for messages. (default: ``"graph"``)

    Returns:
        ``split``, unchanged.

    Example:
        >>> check_class_split(ClassSplit([0], [1], [7]), torch.tensor([0, 1, 1]), "toy")
        Traceback (most recent call last):
            ...
        ValueError: dataset 'toy': the class split (custom) names 1 class that no node ...
    """
    y = torch.as_tensor(y).reshape(-1)
    present = torch.unique(y[y >= 0]).to(torch.long)
    named = torch.tensor([c for s in SPLITS for c in getattr(split, s)], dtype=torch.long)
    absent = named[~torch.isin(named, present)].tolist()
    if absent:
        which = {c: s for s in SPLITS for c in getattr(split, s)}
        shown = ", ".join(f"{which[c]} {c}" for c in absent[:SHOWN])
        more = f" and {len(absent) - SHOWN} more" if len(absent) > SHOWN else ""
        has = (f"y has {present.numel()} classes, ids {int(present.min())}.."
               f"{int(present.max())}" if present.numel() else "y has no labelled node")
        raise ValueError(f"dataset {name!r}: the class split ({split.source}) names "
                         f"{_count(len(absent), 'class', 'classes')} that no node of y has: "
                         f"{shown}{more}; {has}: use a split of those classes")
    return split


def _tensor(data: Data, key: str, where: str, expected: str) -> Tensor:
    value = getattr(data, key, None)
    if not isinstance(value, Tensor):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise ValueError(f"{where}: {key} is {got}; expected a tensor of {expected}")
    return value


def _check_features(x: Tensor, where: str) -> None:
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{where}: x has dtype {x.dtype}; expected real-valued features")
    _check_finite(x, "x", where, "fix or drop those nodes")


def _check_finite(value: Tensor, key: str, where: str, remedy: str) -> None:
    if not value.is_floating_point():
        return  # integers are always finite
    sparse = value.layout != torch.strided
    if sparse:
        value = value.to_sparse_coo().coalesce()
    entries = value.values() if sparse else value
    if entries.numel() == 0 or torch.isfinite(entries.sum()):
        return  # any NaN or inf makes the sum non-finite: no mask needed on clean data
    bad = ~torch.isfinite(entries)
    count = int(bad.sum())
    if count == 0:
        return  # the sum overflowed; every entry is finite
    if sparse:
        positions = value.indices()[:, bad.nonzero()[:SHOWN, 0]].t().tolist()
    else:
        positions = bad.nonzero()[:SHOWN].tolist()
    shown = "; ".join(_position(key, p, value.dim()) for p in positions)
    rows = ""
    if value.dim() == 2:
        index = value.indices()[0, bad] if sparse else bad.any(1).nonzero()[:, 0]
        rows = f" in {_count(int(torch.unique(index).numel()), 'row', 'rows')}"
    nan = int(torch.isnan(entries).sum())
    kinds = f"{nan} NaN, {count - nan} inf" if 0 < nan < count else ("NaN" if nan else "inf")
    raise ValueError(f"{where}: {key} has {_count(count, 'non-finite entry', 'non-finite entries')}"
                     f" ({kinds}){rows} (first at {shown}); every entry must be finite: "
                     f"{remedy}")


def _position(key: str, index: list[int], dim: int) -> str:
    unit = "row" if key == "x" else "edge"  # x is per node; edge_weight/edge_attr per edge
    if dim == 1:
        return f"{unit} {index[0]}"
    if dim == 2:
        return f"{unit} {index[0]}, column {index[1]}"
    return f"index {tuple(index)}"


def _check_labels(y: Tensor, num_nodes: int, num_classes: int | None, where: str) -> None:
    if y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{where}: y has dtype {y.dtype}; expected integer class ids")
    if y.dim() != 1 or y.numel() != num_nodes:
        flat = " (flatten it with y.view(-1))" if y.numel() == num_nodes else ""
        raise ValueError(f"{where}: y has shape {list(y.shape)}; expected [{num_nodes}], one "
                         f"label per row of x{flat}")
    if num_nodes == 0:
        raise ValueError(f"{where}: the graph has no nodes (x has 0 rows)")
    valid = "class ids must be integers >= 0, or -1 for an unlabelled node"
    if y.is_floating_point():
        bad = ~torch.isfinite(y) | (y != y.round())
        if bad.any():
            raise ValueError(f"{where}: y has "
                             f"{_count(int(bad.sum()), 'non-integer label', 'non-integer labels')}"
                             f" (first at {_nodes(y, bad)}); {valid}")
    low, high = (float(v) for v in torch.aminmax(y))
    if low < -1:
        bad = y < -1
        count = _count(int(bad.sum()), "negative label", "negative labels")
        raise ValueError(f"{where}: y has {count} other than -1 (first at {_nodes(y, bad)}); "
                         f"{valid}")
    if num_classes is not None and high >= num_classes:
        bad = y >= num_classes
        raise ValueError(f"{where}: y has {_count(int(bad.sum()), 'label', 'labels')} >= "
                         f"{num_classes}, the number of classes (first at {_nodes(y, bad)}); "
                         f"class ids must be in 0..{num_classes - 1}, or -1 for an unlabelled "
                         f"node")
    if high < 0:
        raise ValueError(f"{where}: y labels none of the {num_nodes} nodes (all are -1); at "
                         f"least one node needs a class id >= 0")


def _check_edges(edge_index: Tensor, num_nodes: int, where: str) -> None:
    if edge_index.dtype != torch.long:
        raise ValueError(f"{where}: edge_index has dtype {edge_index.dtype}; expected "
                         f"torch.long node ids (edge_index.long() converts integer ids)")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{where}: edge_index has shape {list(edge_index.shape)}; expected "
                         f"[2, num_edges] (source row, target row)")
    if edge_index.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(edge_index))
    if low >= 0 and high < num_nodes:
        return
    bad = (edge_index < 0) | (edge_index >= num_nodes)
    count, negative = int(bad.sum()), int((edge_index < 0).sum())
    sides = ("source", "target")
    shown = "; ".join(f"edge {e}: {sides[r]} {int(edge_index[r, e])}"
                      for r, e in bad.t().nonzero()[:SHOWN].flip(1).tolist())
    neg = f", {negative} of them negative" if negative else ""
    raise ValueError(f"{where}: edge_index has "
                     f"{_count(count, 'node id', 'node ids')} outside [0, {num_nodes}){neg} "
                     f"(first at {shown}); ids must index the {num_nodes} rows of x")


def _nodes(y: Tensor, bad: Tensor) -> str:
    return "; ".join(f"node {i}: {_value(y[i])}" for i in bad.nonzero()[:SHOWN, 0].tolist())


def _value(v: Tensor) -> str:
    return f"{v.item():g}" if v.is_floating_point() else str(v.item())


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


__all__ = ["check_class_split", "check_graph"]
