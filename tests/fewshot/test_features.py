from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from fgsam.fewshot.features import normalize_features


def graph(x: torch.Tensor) -> Data:
    return Data(x=x, edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([0, 1]))


def test_row_normalisation_divides_by_the_row_sum_and_copies():
    data = graph(torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]))
    out = normalize_features(data, "row")
    torch.testing.assert_close(out.x, torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]]))
    assert torch.equal(data.x, torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]))  # untouched
    assert out.edge_index is data.edge_index and out.y is data.y


def test_l2_normalisation_gives_unit_rows():
    data = graph(torch.tensor([[3.0, -4.0], [0.0, 0.0]]))
    out = normalize_features(data)
    torch.testing.assert_close(out.x, torch.tensor([[0.6, -0.8], [0.0, 0.0]]))
    assert torch.equal(data.x, torch.tensor([[3.0, -4.0], [0.0, 0.0]]))


def test_none_and_signed_features_are_left_alone():
    data = graph(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert normalize_features(data, "none") is data
    signed = graph(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
    assert normalize_features(signed, "row") is signed


def test_unknown_normalisation_is_refused():
    with pytest.raises(ValueError, match=r"one of \('l2', 'row', 'none'\)"):
        normalize_features(graph(torch.ones(2, 2)), "l1")


def test_row_matches_pyg_normalize_features_on_bag_of_words_and_keeps_small_rows_exact():
    from torch_geometric.transforms import NormalizeFeatures

    words = graph(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(normalize_features(words, "row").x,
                               NormalizeFeatures()(words.clone()).x)
    # rows summing below 1 (TF-IDF): PyG divides by max(sum, 1), so it is not used for "row"
    small = graph(torch.tensor([[0.1, 0.3], [0.2, 0.2]]))
    torch.testing.assert_close(normalize_features(small, "row").x,
                               torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    assert not torch.allclose(NormalizeFeatures()(small.clone()).x,
                              normalize_features(small, "row").x)


def test_unnormalised_rows_are_warned_about_and_unit_rows_are_not():
    from fgsam.fewshot.features import feature_scale_warning

    raw = graph(torch.tensor([[300.0, 400.0, 0.0], [3.0, 4.0, 0.0]]))
    message = feature_scale_warning(raw)
    assert message.startswith("node features are unnormalised: row L2 norms up to 500 (median 5)")
    assert "--features l2" in message and "\n" not in message
    assert feature_scale_warning(normalize_features(raw, "l2")) is None
    assert feature_scale_warning(graph(torch.ones(2, 25))) is None  # binary rows of 25 words
