"""Seeded node splits for ordinary (non-episodic) node classification."""

from __future__ import annotations

import torch
from torch import Tensor

#: Published OGB split sizes ``(train, valid, test)``, for the synthetic shapes of OGB graphs.
OGB_SPLIT_SIZES: dict[str, tuple[int, int, int]] = {
    "ogbn-arxiv": (90_941, 29_799, 48_603),
    "ogbn-products": (196_615, 39_323, 2_213_091),
}
#: Train and validation fractions of the random split of the other synthetic shapes.
DEFAULT_FRACTIONS = (0.6, 0.2)


def per_class_split(y: Tensor, train_per_class: int = 20, val_per_class: int = 30,
                    seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    r"""A seeded per-class node split, as in `"Pitfalls of Graph Neural Network Evaluation"
    <https://arxiv.org/abs/1811.05868>`_ (Shchur et al., R2L workshop at NeurIPS 2018).

    With :math:`t` = ``train_per_class`` and :math:`v` = ``val_per_class``, a class of
    :math:`n` labelled nodes gives

    - :math:`n \geq t + v + 1`: :math:`t` training, :math:`v` validation and
      :math:`n - t - v` test nodes (20/30/rest by default);
    - :math:`2 \leq n \leq t + v`: :math:`\max(1, \lfloor n t / (t + v) \rfloor)` training
      nodes (40% by default), :math:`\lfloor r v / (t + v) \rfloor` validation nodes of the
      :math:`r` remaining ones (60% of the rest) and the rest test (e.g. 10 nodes give
      4/3/3, 3 give 1/1/1, 2 give 1/0/1);
    - :math:`n = 1`: the node is a test node.

    Each class's nodes are shuffled by one ``torch.randperm`` of a ``torch.Generator``
    seeded with ``seed``, class by class in increasing class id, so the split is the same
    in every process and on every machine. Nodes labelled ``-1`` are in no split.

    Args:
        y (torch.Tensor): class ids ``[N]`` (``-1`` for an unlabelled node).
        train_per_class (int, optional): training nodes of a large class. (default: ``20``)
        val_per_class (int, optional): validation nodes of a large class. (default: ``30``)
        seed (int, optional): the split's seed. (default: ``0``)

    Returns:
        ``(train, val, test)``: sorted ``torch.long`` node ids.

    Example:
        >>> y = torch.arange(7).repeat_interleave(100)
        >>> train, val, test = per_class_split(y, seed=0)
        >>> train.numel(), val.numel(), test.numel()
        (140, 210, 350)
    """
    t, v = int(train_per_class), int(val_per_class)
    if t < 1 or v < 0:
        raise ValueError(f"per_class_split needs train_per_class >= 1 and val_per_class >= 0, "
                         f"got {train_per_class!r} and {val_per_class!r}")
    y = y.reshape(-1).to(torch.long).cpu()
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.argsort(y, stable=True)  # node ids grouped by class, increasing within one
    classes, counts = torch.unique_consecutive(y[order], return_counts=True)
    parts: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
    start = 0
    for c, n in zip(classes.tolist(), counts.tolist()):
        nodes = order[start:start + n]
        start += n
        if c < 0:
            continue
        shuffled = nodes[torch.randperm(n, generator=gen)]
        num_train, num_val = _class_counts(n, t, v)
        parts[0].append(shuffled[:num_train])
        parts[1].append(shuffled[num_train:num_train + num_val])
        parts[2].append(shuffled[num_train + num_val:])
    return tuple(_sorted(p) for p in parts)  # type: ignore[return-value]


def _class_counts(n: int, t: int, v: int) -> tuple[int, int]:
    """Training and validation nodes of a class of ``n`` nodes (see :func:`per_class_split`)."""
    if n > t + v:
        return t, v
    if n < 2:
        return 0, 0
    num_train = max(1, n * t // (t + v))
    return num_train, (n - num_train) * v // (t + v)


def random_split(num_nodes: int, num_train: int, num_val: int,
                 seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """A seeded uniform random node split: ``num_train`` training, ``num_val`` validation
    and all other nodes test, drawn by one ``torch.randperm`` of a ``torch.Generator``
    seeded with ``seed``.

    Args:
        num_nodes (int): number of nodes.
        num_train (int): training nodes.
        num_val (int): validation nodes.
        seed (int, optional): the split's seed. (default: ``0``)

    Returns:
        ``(train, val, test)``: sorted ``torch.long`` node ids.

    Example:
        >>> train, val, test = random_split(10, 6, 2, seed=0)
        >>> train.numel(), val.numel(), test.numel()
        (6, 2, 2)
    """
    if not (num_train >= 0 and num_val >= 0 and num_train + num_val <= num_nodes):
        raise ValueError(f"random_split: {num_train} train + {num_val} val nodes do not fit "
                         f"in {num_nodes} nodes")
    perm = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(int(seed)))
    return (_sorted([perm[:num_train]]), _sorted([perm[num_train:num_train + num_val]]),
            _sorted([perm[num_train + num_val:]]))


def split_fractions(shape_name: str | None) -> tuple[float, float]:
    """Train and validation fractions of a synthetic shape's random split: OGB's published
    ones for the OGB shapes, else :data:`DEFAULT_FRACTIONS`."""
    if shape_name in OGB_SPLIT_SIZES:
        train, val, test = OGB_SPLIT_SIZES[shape_name]
        total = train + val + test
        return train / total, val / total
    return DEFAULT_FRACTIONS


def split_counts(num_nodes: int, shape_name: str | None) -> tuple[int, int]:
    """Training and validation node counts of a synthetic graph of ``num_nodes`` nodes:
    the published counts scaled (exactly the published ones at full size), rounded."""
    if shape_name in OGB_SPLIT_SIZES:
        train, val, test = OGB_SPLIT_SIZES[shape_name]
        total = train + val + test
        # integer rounding, so that the full-size graph gets exactly OGB's counts
        return ((num_nodes * train + total // 2) // total,
                (num_nodes * val + total // 2) // total)
    frac_train, frac_val = DEFAULT_FRACTIONS
    return round(num_nodes * frac_train), round(num_nodes * frac_val)


def random_split_name(shape_name: str | None) -> str:
    """The split kind of a synthetic shape, e.g. ``"random-0.537/0.176"``."""
    frac_train, frac_val = split_fractions(shape_name)
    return f"random-{frac_train:.3g}/{frac_val:.3g}"


def _sorted(parts: list[Tensor]) -> Tensor:
    if not parts:
        return torch.empty(0, dtype=torch.long)
    return torch.cat(parts).to(torch.long).sort().values


__all__ = ["DEFAULT_FRACTIONS", "OGB_SPLIT_SIZES", "per_class_split", "random_split",
           "random_split_name", "split_counts", "split_fractions"]
