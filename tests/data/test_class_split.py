"""ClassSplit: validation, published JSON files, seeded random splits, feasibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fgsam.data import ClassSplit, class_sizes

PUBLISHED = {  # train / val / test classes of the TENT/FGSAM files
    "corafull": (25, 20, 25),
    "dblp": (80, 27, 30),
    "amazon-electronics": (91, 36, 40),
    "ogbn-arxiv": (15, 5, 20),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_json_counts(data_root: Path, name: str) -> None:
    split = ClassSplit.from_json(data_root / f"fsnc/class_split/{name}_class_split.json")
    assert (len(split.train), len(split.val), len(split.test)) == PUBLISHED[name]
    assert sorted(split.train + split.val + split.test) == list(range(sum(PUBLISHED[name])))
    assert all(type(c) is int for c in split.train + split.val + split.test)
    assert split.source == "published"


def test_float_ids_become_ints_and_fractions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([[0.0, 2.0], [1.0], [3.0]]))
    assert ClassSplit.from_json(path).train == [0, 2]
    path.write_text(json.dumps([[0.5], [1], [2]]))
    with pytest.raises(ValueError, match="0.5"):
        ClassSplit.from_json(path)
    path.write_text(json.dumps([[0], [1]]))
    with pytest.raises(ValueError, match="train, val, test"):
        ClassSplit.from_json(path)


def test_overlapping_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="class 2 is in train and test"):
        ClassSplit([1, 2], [3], [2])
    with pytest.raises(ValueError, match="class 1 is twice in val"):
        ClassSplit([0], [1, 1], [2])


def test_feasible_drops_small_classes_and_reports_them_per_split() -> None:
    y = torch.tensor([0] * 5 + [1] * 2 + [2] * 6 + [3] * 1 + [4] * 4 + [-1] * 3)
    split = ClassSplit([0, 1], [2, 3], [4, 5], source="custom")
    kept, dropped = split.feasible(y, min_nodes=4)
    assert (kept.train, kept.val, kept.test) == ([0], [2], [4])
    assert kept.source == "custom"
    assert dropped == {"train": {1: 2}, "val": {3: 1}, "test": {5: 0}}
    assert class_sizes(y) == {0: 5, 1: 2, 2: 6, 3: 1, 4: 4}
    with pytest.raises(ValueError, match="min_nodes"):
        split.feasible(y, min_nodes=0)


def test_random_split_is_seeded_and_respects_eligibility() -> None:
    classes = range(17)
    a = ClassSplit.random(classes, (-1, 5, 5), seed=3, eligible_eval=range(12))
    assert a == ClassSplit.random(classes, (7, 5, 5), seed=3, eligible_eval=range(12))
    assert a.source == "random(seed=3)"
    assert len(a.train) == 7 and {12, 13, 14, 15, 16} <= set(a.train)
    assert set(a.val + a.test) <= set(range(12))
    seen = {tuple(ClassSplit.random(classes, (-1, 5, 5), seed=s).test) for s in range(10)}
    assert len(seen) > 1
    with pytest.raises(ValueError, match="do not fit"):
        ClassSplit.random(range(6), (-1, 3, 3), seed=0, eligible_eval=range(5))
    with pytest.raises(ValueError, match="add up"):
        ClassSplit.random(range(7), (2, 2, 2), seed=0)


def test_accessors_and_repr() -> None:
    split = ClassSplit([0, 1, 2], [3, 4], [5, 6], source="tlp-3/2/2(seed=0)")
    assert split.num_classes == 7
    assert split.classes("val") == [3, 4]
    with pytest.raises(ValueError, match="'dev'"):
        split.classes("dev")
    assert json.loads(json.dumps(split.as_dict()))["source"] == "tlp-3/2/2(seed=0)"
    assert repr(split) == ("ClassSplit(train=[0, 1, 2], val=[3, 4], test=[5, 6], "
                           "source='tlp-3/2/2(seed=0)')")


def test_truncated_or_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("[[0, 1], [2")
    with pytest.raises(ValueError, match=r"s.json: cannot be read as a UTF-8 JSON list \[train, "
                                         r"val, test\] of class-id lists \(JSONDecodeError"):
        ClassSplit.from_json(path)
    path.write_bytes(b"\xff\xfe[[0]]")
    with pytest.raises(ValueError, match=r"s.json: cannot be read .*UnicodeDecodeError"):
        ClassSplit.from_json(path)
    path.write_text(json.dumps([[0], 1, [2]]))
    with pytest.raises(ValueError, match=r"s.json: .*holds int where a list belongs"):
        ClassSplit.from_json(path)
    path.write_text(json.dumps([[0], ["a"], [2]]))
    with pytest.raises(ValueError, match=r"s.json: ClassSplit: val class id 'a' is not a "
                                         r"non-negative integer"):
        ClassSplit.from_json(path)


def test_class_ids_that_are_not_numbers_are_refused() -> None:
    for bad in ("3", None, True, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="is not a non-negative integer"):
            ClassSplit([bad], [1], [2])


def test_class_sizes_refuses_fractional_and_nan_labels() -> None:
    assert class_sizes(torch.tensor([0.0, 2.0, 2.0, -1.0])) == {0: 1, 2: 2}
    with pytest.raises(ValueError, match=r"y has 2 non-integer labels \(first at node 1: 0.5; "
                                         r"node 3: nan\)"):
        class_sizes(torch.tensor([0.0, 0.5, 1.0, float("nan")]))


def test_as_dict_is_a_deprecated_alias_of_to_dict() -> None:
    split = ClassSplit([0, 1, 2], [3, 4], [5, 6], source="tlp-3/2/2(seed=0)")
    assert split.to_dict() == {"train": [0, 1, 2], "val": [3, 4], "test": [5, 6],
                               "source": "tlp-3/2/2(seed=0)"}
    with pytest.warns(DeprecationWarning, match=r"ClassSplit.as_dict is deprecated; use to_dict"):
        assert split.as_dict() == split.to_dict()
