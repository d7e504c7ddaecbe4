"""check_graph and check_class_split: clean graphs pass untouched, bad ones are refused in
one line naming the dataset, the field, the count and the first positions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

import fgsam.data
from fgsam.data import ClassSplit, check_class_split, check_graph, load_graph


def _graph(**fields) -> Data:
    """Five nodes, three classes, node 4 unlabelled; ``fields`` replace the defaults."""
    base = {"x": torch.arange(15, dtype=torch.float32).reshape(5, 3),
            "edge_index": torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]),
            "y": torch.tensor([0, 1, 2, 1, -1])}
    base.update(fields)
    return Data(**{k: v for k, v in base.items() if v is not None})


def _refused(data: Data, *parts: str, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        check_graph(data, "toy", **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("dataset 'toy': ")
    for part in parts:
        assert part in message, (part, message)
    return message


def test_a_clean_graph_is_returned_unchanged() -> None:
    data = _graph()
    before = {k: v.clone() for k, v in data.items()}
    assert check_graph(data, "toy", num_classes=3, split=ClassSplit([0], [1], [2])) is data
    assert all(torch.equal(data[k], v) for k, v in before.items())


def test_exported_from_the_package() -> None:
    assert {"check_graph", "check_class_split"} <= set(fgsam.data.__all__)


def test_name_defaults_to_data_name_then_graph() -> None:
    x = torch.ones(5, 3)
    x[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"^dataset 'mine': "):
        check_graph(_graph(x=x, name="mine"))
    with pytest.raises(ValueError, match=r"^dataset 'graph': "):
        check_graph(_graph(x=x))


def test_one_nan_names_its_row_and_column() -> None:
    x = torch.ones(5, 3)
    x[2, 1] = math.nan
    message = _refused(_graph(x=x), "x has 1 non-finite entry (NaN) in 1 row",
                       "first at row 2, column 1", "fix or drop those nodes")
    assert "every entry must be finite" in message


def test_many_non_finite_entries_are_counted_and_the_first_three_shown() -> None:
    x = torch.ones(5, 3)
    x[1, 0] = math.inf
    x[1, 2] = math.nan
    x[3, 1] = -math.inf
    x[4, 2] = math.nan
    _refused(_graph(x=x), "x has 4 non-finite entries (2 NaN, 2 inf) in 3 rows",
             "first at row 1, column 0; row 1, column 2; row 3, column 1)")


def test_sparse_features_are_checked_too() -> None:
    x = torch.zeros(5, 3)
    x[4, 2] = math.nan
    _refused(_graph(x=x.to_sparse()), "x has 1 non-finite entry", "row 4, column 2")


def test_huge_finite_features_whose_sum_overflows_pass() -> None:
    check_graph(_graph(x=torch.full((5, 3), 3e38)), "toy")


def test_integer_features_pass_and_bool_features_are_refused() -> None:
    check_graph(_graph(x=torch.ones(5, 3, dtype=torch.long)), "toy")
    _refused(_graph(x=torch.ones(5, 3, dtype=torch.bool)), "x has dtype torch.bool")


def test_missing_or_misshapen_features() -> None:
    _refused(_graph(x=None), "x is missing", "[num_nodes, num_features]")
    _refused(_graph(x=[[1.0]] * 5), "x is a list")
    _refused(_graph(x=torch.ones(5)), "x has shape [5]", "2 dimensions")


def test_fractional_and_nan_labels() -> None:
    y = torch.tensor([0.0, 0.5, 2.0, math.nan, -1.0])
    _refused(_graph(y=y), "y has 2 non-integer labels", "(first at node 1: 0.5; node 3: nan)",
             "-1 for an unlabelled node")


def test_integral_float_labels_pass() -> None:
    check_graph(_graph(y=torch.tensor([0.0, 1.0, 2.0, 1.0, -1.0])), "toy", num_classes=3)


def test_negative_labels_other_than_minus_one() -> None:
    _refused(_graph(y=torch.tensor([0, -2, 1, -7, -1])), "y has 2 negative labels other than -1",
             "(first at node 1: -2; node 3: -7)")


def test_labels_at_or_above_the_number_of_classes() -> None:
    y = torch.tensor([0, 3, 1, 9, -1])
    check_graph(_graph(y=y), "toy")  # unknown number of classes: not checked
    _refused(_graph(y=y), "y has 2 labels >= 3, the number of classes",
             "(first at node 1: 3; node 3: 9)", "class ids must be in 0..2", num_classes=3)


def test_a_graph_without_any_label() -> None:
    _refused(_graph(y=torch.full((5,), -1)), "y labels none of the 5 nodes (all are -1)")


def test_label_shape_and_dtype() -> None:
    _refused(_graph(y=torch.zeros(5, 1, dtype=torch.long)), "y has shape [5, 1]; expected [5]",
             "y.view(-1)")
    _refused(_graph(y=torch.zeros(4, dtype=torch.long)), "y has shape [4]; expected [5]")
    _refused(_graph(y=torch.ones(5, dtype=torch.bool)), "y has dtype torch.bool")
    _refused(_graph(y=None), "y is missing")


def test_edges_outside_the_nodes() -> None:
    edges = torch.tensor([[0, 5, 1, 2], [1, 2, -1, 9]])
    _refused(_graph(edge_index=edges), "edge_index has 3 node ids outside [0, 5), 1 of them "
             "negative", "(first at edge 1: source 5; edge 2: target -1; edge 3: target 9)",
             "index the 5 rows of x")


def test_edge_dtype_and_shape() -> None:
    _refused(_graph(edge_index=torch.tensor([[0.0, 1.0], [1.0, 2.0]])),
             "edge_index has dtype torch.float32", "torch.long")
    _refused(_graph(edge_index=torch.tensor([[0, 1], [1, 2]], dtype=torch.int32)),
             "edge_index has dtype torch.int32")
    _refused(_graph(edge_index=torch.zeros(3, 4, dtype=torch.long)),
             "edge_index has shape [3, 4]", "[2, num_edges]")
    check_graph(_graph(edge_index=torch.zeros(2, 0, dtype=torch.long)), "toy")  # no edges


def test_non_finite_edge_weights_and_attributes() -> None:
    _refused(_graph(edge_weight=torch.tensor([1.0, math.inf, 1.0, 1.0])),
             "edge_weight has 1 non-finite entry (inf)", "first at edge 1)",
             "fix or drop those edges")
    attr = torch.ones(4, 2)
    attr[3, 1] = math.nan
    _refused(_graph(edge_attr=attr), "edge_attr has 1 non-finite entry", "edge 3, column 1")


def test_not_a_data_object() -> None:
    with pytest.raises(ValueError, match="expected a torch_geometric.data.Data, got dict"):
        check_graph({"x": torch.ones(1, 1)}, "toy")


def test_split_with_classes_no_node_has() -> None:
    split = ClassSplit([0, 1], [5], [2, 7, 8, 9], source="mine")
    _refused(_graph(), "the class split (mine) names 4 classes that no node of y has",
             "val 5, test 7, test 8 and 1 more", "y has 3 classes, ids 0..2", split=split)


def test_check_class_split_alone_returns_the_split() -> None:
    split = ClassSplit([0], [1], [2])
    assert check_class_split(split, torch.tensor([0, 1, 2, -1]), "toy") is split
    with pytest.raises(ValueError, match=r"^dataset 'toy': .*names 1 class .*: test 2; "
                                         r"y has 2 classes, ids 0\.\.1"):
        check_class_split(split, torch.tensor([0, 1, -1]), "toy")


def test_a_loaded_catalog_graph_passes_again(data_root: Path) -> None:
    data, split = load_graph("cora", root=data_root, download=False)  # checked once as read
    assert check_graph(data, "cora", num_classes=7, split=split) is data
