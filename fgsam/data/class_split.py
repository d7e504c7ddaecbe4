"""Disjoint train/validation/test class sets for few-shot node classification."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from fgsam.data.file_errors import reading

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClassSplit:
    r"""Disjoint train/validation/test class sets of the few-shot node-classification
    protocol of `TENT <https://arxiv.org/abs/2206.11972>`_ (Wang et al., KDD 2022) and
    `TLP <https://arxiv.org/abs/2212.05606>`_ (Tan et al., LoG 2022).

    .. math::
        \mathcal{C} = \mathcal{C}_{train} \,\dot\cup\, \mathcal{C}_{val}
        \,\dot\cup\, \mathcal{C}_{test}

    Episodes for meta-training draw their classes from :attr:`train` only, validation
    tasks from :attr:`val`, test tasks from :attr:`test`, so test classes are never seen
    in training.

    Args:
        train (list of int): meta-training class ids.
        val (list of int): validation class ids.
        test (list of int): meta-test class ids.
        source (str, optional): where the split comes from, recorded with every result:
            ``"published"``, ``"tlp-3/2/2(seed=0)"``, ``"gpn(seed=0)"``,
            ``"random(seed=0)"``, ... (default: ``"custom"``)

    Example:
        >>> split = ClassSplit([0, 1, 2], [3, 4], [5, 6], source="custom")
        >>> usable, dropped = split.feasible(data.y, min_nodes=k_shot + q_query)
        >>> {name: len(ids) for name, ids in dropped.items()}
        {'train': 0, 'val': 0, 'test': 0}
    """

    train: list[int]
    val: list[int]
    test: list[int]
    source: str = field(default="custom")

    def __post_init__(self) -> None:
        seen: dict[int, str] = {}
        for name in SPLITS:
            ids = [_class_id(c, name) for c in getattr(self, name)]
            for c in ids:
                if c in seen:
                    where = "twice in " + name if seen[c] == name else f"in {seen[c]} and {name}"
                    raise ValueError(f"ClassSplit: class {c} is {where}; the class sets of a "
                                     f"split must be disjoint")
                seen[c] = name
            object.__setattr__(self, name, ids)

    @property
    def num_classes(self) -> int:
        """Number of classes over the three sets."""
        return len(self.train) + len(self.val) + len(self.test)

    def classes(self, split: str) -> list[int]:
        """The class ids of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not one of {', '.join(SPLITS)}")
        return list(getattr(self, split))

    def feasible(self, y: Tensor, min_nodes: int) -> tuple[ClassSplit, dict[str, dict[int, int]]]:
        """The split without the classes that have fewer than ``min_nodes`` nodes.

        An N-way K-shot task with Q queries per class needs ``K + Q`` nodes in each of
        its classes; pass ``min_nodes=K + Q``.

        A class no node has is dropped with count 0, like any too-small class; to refuse
        such a split instead, use :func:`~fgsam.data.check_class_split`. Float labels
        must be whole numbers (see :func:`class_sizes`).

        Returns:
            ``(split, dropped)``: the reduced split (same :attr:`source`) and, for each of
            ``"train"``, ``"val"``, ``"test"``, the dropped classes with their node counts
            (``len(dropped["test"])`` is how many test classes were dropped).
        """
        if isinstance(min_nodes, bool) or not isinstance(min_nodes, int) or min_nodes < 1:
            raise ValueError(f"min_nodes must be a positive int (K + Q), got {min_nodes!r}")
        sizes = class_sizes(y)
        kept: dict[str, list[int]] = {}
        dropped: dict[str, dict[int, int]] = {}
        for name in SPLITS:
            ids = getattr(self, name)
            kept[name] = [c for c in ids if sizes.get(c, 0) >= min_nodes]
            dropped[name] = {c: sizes.get(c, 0) for c in ids if sizes.get(c, 0) < min_nodes}
        return ClassSplit(kept["train"], kept["val"], kept["test"], self.source), dropped

    def as_dict(self) -> dict[str, list[int] | str]:
        """Deprecated name of :meth:`to_dict`."""
        warnings.warn("ClassSplit.as_dict is deprecated; use to_dict", DeprecationWarning, 2)
        return self.to_dict()

    def to_dict(self) -> dict[str, list[int] | str]:
        """Plain JSON-ready form: the three class lists and the source."""
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test),
                "source": self.source}

    @classmethod
    def from_json(cls, path: str | os.PathLike[str], source: str = "published") -> ClassSplit:
        """Read a TENT-format file: a JSON list ``[train, val, test]`` of class ids.

        Ids written as floats (``2.0``, as in the DBLP and Amazon files, which took them from
        ``.mat`` label values) are cast to int; a fractional id is refused. A truncated or
        undecodable file raises a one-line ``ValueError`` naming it.

        Example:
            >>> split = ClassSplit.from_json("fsnc/class_split/dblp_class_split.json")
        """
        with reading(path, "a UTF-8 JSON list [train, val, test] of class-id lists"), \
                open(path, encoding="utf-8") as f:
            lists = json.load(f)
        if not isinstance(lists, list) or len(lists) != 3:
            raise ValueError(f"{path}: expected a JSON list [train, val, test] of class-id "
                             f"lists, got {type(lists).__name__} of length "
                             f"{len(lists) if isinstance(lists, list) else 'n/a'}")
        kinds = [type(part).__name__ for part in lists if not isinstance(part, list)]
        if kinds:
            raise ValueError(f"{path}: expected a JSON list [train, val, test] of class-id "
                             f"lists, but it holds {', '.join(kinds)} where a list belongs")
        try:
            return cls(*lists, source=source)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    @classmethod
    def random(cls, classes: Iterable[int], counts: Sequence[int], seed: int = 0, *,
               eligible_eval: Iterable[int] | None = None, source: str | None = None,
               ) -> ClassSplit:
        """A seeded random split with ``counts = (n_train, n_val, n_test)`` classes.

        Classes are shuffled with a ``torch.Generator`` seeded with ``seed``; the test
        classes come first in that order, then validation, and train takes the rest.
        With ``eligible_eval``, validation and test classes are drawn from those classes
        only (e.g. the classes large enough for any evaluation task); the others go to train.
        ``n_train`` may be ``-1`` for "all remaining classes".
        """
        pool = sorted({int(c) for c in classes})
        n_train, n_val, n_test = (int(c) for c in counts)
        eligible = pool if eligible_eval is None else sorted(set(pool) & {int(c) for c in
                                                                            eligible_eval})
        if n_val < 0 or n_test < 0 or n_val + n_test > len(eligible):
            raise ValueError(f"counts={tuple(counts)}: {n_val} validation + {n_test} test "
                             f"classes do not fit in the {len(eligible)} eligible classes")
        rest = len(pool) - n_val - n_test
        if n_train != -1 and n_train != rest:
            raise ValueError(f"counts={tuple(counts)} must add up to the {len(pool)} classes "
                             f"(use -1 for train to take all remaining classes)")
        gen = torch.Generator().manual_seed(int(seed))
        order = [eligible[i] for i in torch.randperm(len(eligible), generator=gen).tolist()]
        test = sorted(order[:n_test])
        val = sorted(order[n_test:n_test + n_val])
        train = [c for c in pool if c not in set(test) | set(val)]
        return cls(train, val, test, source if source is not None else f"random(seed={seed})")

    def __repr__(self) -> str:
        return (f"ClassSplit(train={self.train}, val={self.val}, test={self.test}, "
                f"source={self.source!r})")


def class_sizes(y: Tensor) -> dict[int, int]:
    """Number of nodes per class id in the labels ``y`` (negative labels are ignored).

    Float labels must be whole numbers (NaN and ``0.5`` are refused, never counted as a
    class of their own).

    Example:
        >>> class_sizes(torch.tensor([0, 0, 2, -1]))
        {0: 2, 2: 1}
    """
    y = torch.as_tensor(y).reshape(-1)
    if y.is_floating_point():
        bad = (~torch.isfinite(y) | (y != y.round())).nonzero().reshape(-1)
        if bad.numel():
            first = "; ".join(f"node {i}: {y[i].item():g}" for i in bad[:3].tolist())
            raise ValueError(f"y has {bad.numel()} non-integer label"
                             f"{'s' * (bad.numel() != 1)} (first at {first}); class ids must "
                             f"be integers >= 0, or -1 for an unlabelled node")
    y = y[y >= 0]
    ids, counts = torch.unique(y, return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist()))


def _class_id(value: object, split: str) -> int:
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        as_float = math.nan
    if isinstance(value, (bool, str)) or not as_float.is_integer() or as_float < 0:
        raise ValueError(f"ClassSplit: {split} class id {value!r} is not a non-negative integer")
    return int(as_float)


__all__ = ["SPLITS", "ClassSplit", "class_sizes"]
