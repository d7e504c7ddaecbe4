"""load_graph on the real files: published counts, clean graphs, class splits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, is_undirected

from fgsam.data import ClassSplit, dataset_info, load_graph
from fgsam.data.structural_features import NUM_EIGENVECTORS

# Published statistics: nodes, undirected edges, features, classes.
PUBLISHED = {
    "cora": (2708, 5278, 1433, 7),
    "citeseer": (3327, 4552, 3703, 6),
    "cora-ml": (2995, 8158, 2879, 7),
    "wiki": (2405, 11596, 4973, 17),
    "blogcatalog": (5196, 171743, 8189, 6),
    "email-eu-core": (1005, 16064, 0, 42),
    "lastfm-asia": (7624, 27806, 7842, 18),
}
STRUCTURAL = {"email-eu-core", "lastfm-asia"}
SPLIT_SIZES = {  # (train, val, test) classes
    "cora": (3, 2, 2), "citeseer": (2, 2, 2), "cora-ml": (3, 2, 2), "wiki": (7, 5, 5),
    "blogcatalog": (2, 2, 2), "email-eu-core": (28, 7, 7), "lastfm-asia": (8, 5, 5),
}


@pytest.fixture(scope="module")
def graphs(data_root: Path) -> dict[str, tuple[Data, ClassSplit]]:
    return {name: load_graph(name, root=data_root, download=False) for name in PUBLISHED}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_counts(graphs, name: str) -> None:
    data, _ = graphs[name]
    nodes, edges, features, classes = PUBLISHED[name]
    assert data.num_nodes == nodes
    assert data.edge_index.size(1) == 2 * edges
    assert int(data.y.unique().numel()) == classes and int(data.y.min()) == 0
    assert int(data.y.max()) == classes - 1
    if name in STRUCTURAL:
        assert data.x.size(1) == 3 + NUM_EIGENVECTORS
        assert data.features.startswith("structural")
    else:
        assert data.x.size(1) == features and data.features == "published"
    stats = dataset_info(name).stats
    assert (stats["nodes"], stats["edges"], stats["features"], stats["classes"]) == (
        nodes, edges, features, classes)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_graph_is_clean(graphs, name: str) -> None:
    data, _ = graphs[name]
    assert data.name == name
    assert data.x.dtype == torch.float32 and data.x.shape[0] == data.num_nodes
    assert data.y.dtype == torch.long and data.y.shape == (data.num_nodes,)
    assert torch.isfinite(data.x).all()
    row, col = data.edge_index
    assert not (row == col).any()
    assert is_undirected(data.edge_index, num_nodes=data.num_nodes)
    assert torch.equal(coalesce(data.edge_index, num_nodes=data.num_nodes), data.edge_index)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_class_split_covers_every_class_once(graphs, name: str) -> None:
    data, split = graphs[name]
    assert (len(split.train), len(split.val), len(split.test)) == SPLIT_SIZES[name]
    assert sorted(split.train + split.val + split.test) == data.y.unique().tolist()
    kind = dataset_info(name).options["split"]["kind"]
    prefix = {"tlp": "tlp-", "random": "random("}[kind]
    assert split.source.startswith(prefix) and "seed=0" in split.source


@pytest.mark.parametrize("name", ["cora", "citeseer", "cora-ml"])
def test_documented_tlp_classes_are_the_loaded_ones(graphs, name: str) -> None:
    _, split = graphs[name]
    documented = f"train {split.train}, val {split.val}, test {split.test}"
    assert documented in dataset_info(name).notes


def test_molecule_dataset_is_refused(data_root: Path) -> None:
    from fgsam.data import list_datasets

    with pytest.raises(ValueError, match="molecule dataset.*load_graph reads"):
        load_graph(list_datasets("molecule")[0], root=data_root)


def test_random_split_keeps_evaluation_classes_large(graphs) -> None:
    data, split = graphs["wiki"]
    sizes = torch.bincount(data.y)
    assert all(int(sizes[c]) >= 20 for c in split.val + split.test)
    assert {int(c) for c in (sizes < 20).nonzero().reshape(-1)} <= set(split.train)


def test_wiki_five_way_limit(graphs) -> None:
    data, split = graphs["wiki"]
    fits, dropped = split.feasible(data.y, min_nodes=11)
    assert (len(fits.train), len(fits.val), len(fits.test)) == (5, 5, 5)
    assert sorted(dropped["train"].values()) == [9, 10]
    tight, _ = split.feasible(data.y, min_nodes=12)
    assert len(tight.train) == 4  # 5-way training needs K + Q <= 11


def test_split_seed_changes_only_seeded_splits(data_root: Path, graphs) -> None:
    _, default = graphs["cora"]
    again = load_graph("cora", root=data_root, split_seed=0)[1]
    other = [load_graph("cora", root=data_root, split_seed=s)[1] for s in (1, 2, 3)]
    assert again == default
    assert any(s.test != default.test for s in other)
    assert all(s.source == f"tlp-3/2/2(seed={i})" for i, s in zip((1, 2, 3), other))


def test_structural_features_are_reproducible(data_root: Path, graphs) -> None:
    data, _ = graphs["lastfm-asia"]  # large enough for the Lanczos solver
    again, _ = load_graph("lastfm-asia", root=data_root)
    assert torch.equal(again.x, data.x)


def test_unknown_name_and_bad_seed(data_root: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'pubmed'.*cora"):
        load_graph("pubmed", root=data_root)
    with pytest.raises(ValueError, match="split_seed"):
        load_graph("cora", root=data_root, split_seed=1.5)


def test_missing_dataset_offline(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_graph("wiki", root=tmp_path, download=False)
    assert "wiki.mat" in str(err.value) and str(tmp_path / "attributed-mat") in str(err.value)
    assert dataset_info("wiki").files[0].url in str(err.value)
