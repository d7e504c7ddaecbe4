"""Node-classification datasets and their standard splits, on the real files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected

from fgsam.data import SHAPES, dataset_info, list_datasets, load_graph
from fgsam.data.node_dataset import (
    NODE_SPLITS,
    NodeDataset,
    load_node_dataset,
    synthetic_node_dataset,
)
from fgsam.data.node_split import per_class_split, split_counts


def _disjoint_and_clean(ds: NodeDataset) -> None:
    data = ds.data
    parts = [ds.train_idx, ds.val_idx, ds.test_idx]
    every = torch.cat(parts)
    assert every.unique().numel() == every.numel()
    assert all(p.dtype == torch.long and torch.equal(p, p.sort().values) for p in parts)
    assert data.x.dtype == torch.float32 and data.x.layout == torch.strided
    assert data.y.dtype == torch.long and data.y.shape == (data.num_nodes,)
    assert not (data.edge_index[0] == data.edge_index[1]).any()
    assert is_undirected(data.edge_index, num_nodes=data.num_nodes)
    assert torch.equal(coalesce(data.edge_index, num_nodes=data.num_nodes), data.edge_index)
    json.dumps(ds.summary())


@pytest.mark.parametrize("name,num_train", [("cora", 140), ("citeseer", 120)])
def test_planetoid_public_split(data_root: Path, name: str, num_train: int) -> None:
    ds = load_node_dataset(name, root=data_root, download=False)
    sizes = (ds.train_idx.numel(), ds.val_idx.numel(), ds.test_idx.numel())
    assert sizes == (num_train, 500, 1000)
    assert ds.split == "planetoid-public" and ds.evaluator is None
    graph, _ = load_graph(name, root=data_root, download=False)
    assert torch.equal(ds.data.x, graph.x) and torch.equal(ds.data.y, graph.y)
    assert torch.equal(ds.data.edge_index, graph.edge_index)
    # the split's node ids fit the graph's labels: 20 training nodes in every class
    assert ds.data.y[ds.train_idx].bincount(minlength=ds.num_classes).tolist() == \
        [20] * ds.num_classes
    assert torch.equal(ds.val_idx, torch.arange(num_train, num_train + 500))
    _disjoint_and_clean(ds)
    assert ds.summary() == {"name": name, "nodes": graph.num_nodes,
                            "edges": graph.edge_index.size(1) // 2,
                            "features": graph.x.size(1), "classes": ds.num_classes,
                            "train": num_train, "val": 500, "test": 1000,
                            "split": "planetoid-public", "evaluator": None}
    assert load_node_dataset(name, root=data_root, split_seed=5).split == "planetoid-public"
    folder = data_root / dataset_info(name).files[0].path
    assert sorted(p.name for p in folder.parent.parent.iterdir()) == ["raw"]  # wrote nothing


def test_per_class_rule_on_small_and_unlabelled_classes() -> None:
    sizes = {0: 1, 1: 2, 2: 3, 3: 10, 4: 50, 5: 51, 6: 200}
    y = torch.cat([torch.full((n,), c) for c, n in sizes.items()] + [torch.full((7,), -1)])
    y = y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(1))]
    train, val, test = per_class_split(y, seed=0)
    expected = {0: (0, 0, 1), 1: (1, 0, 1), 2: (1, 1, 1), 3: (4, 3, 3), 4: (20, 18, 12),
                5: (20, 30, 1), 6: (20, 30, 150)}
    for c, counts in expected.items():
        got = tuple(int((y[idx] == c).sum()) for idx in (train, val, test))
        assert got == counts, c
    assert not (y[torch.cat([train, val, test])] < 0).any()  # unlabelled nodes: no split
    assert train.numel() + val.numel() + test.numel() == y.numel() - 7


def test_wiki_and_blogcatalog_per_class(data_root: Path) -> None:
    wiki = load_node_dataset("wiki", root=data_root, download=False)
    # 13 classes of >= 51 nodes give 20/30/rest; the classes of 30, 11, 10 and 9 nodes give
    # 12/10/8, 4/4/3, 4/3/3 and 3/3/3
    assert (wiki.train_idx.numel(), wiki.val_idx.numel(), wiki.test_idx.numel()) == (
        13 * 20 + 12 + 4 + 4 + 3, 13 * 30 + 10 + 4 + 3 + 3, 2405 - 283 - 410)
    assert wiki.split == "per-class-20/30(seed=0)" and wiki.evaluator is None
    blog = load_node_dataset("blogcatalog", root=data_root, download=False)
    assert (blog.train_idx.numel(), blog.val_idx.numel(), blog.test_idx.numel()) == (
        120, 180, 5196 - 300)
    assert blog.data.y[blog.val_idx].bincount().tolist() == [30] * 6
    graph, _ = load_graph("blogcatalog", root=data_root, download=False)
    assert torch.equal(blog.data.x, graph.x) and torch.equal(blog.data.y, graph.y)
    _disjoint_and_clean(wiki)
    _disjoint_and_clean(blog)


def test_per_class_split_is_seeded_and_the_same_in_another_process(data_root: Path) -> None:
    ds = load_node_dataset("wiki", root=data_root, split_seed=3)
    code = ("import json; from fgsam.data.node_dataset import load_node_dataset as load; "
            f"d = load('wiki', root={str(data_root)!r}, split_seed=3); "
            "print(json.dumps([d.train_idx.tolist(), d.val_idx.tolist(), d.split]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert json.loads(out.splitlines()[-1]) == [ds.train_idx.tolist(), ds.val_idx.tolist(),
                                                "per-class-20/30(seed=3)"]
    other = load_node_dataset("wiki", root=data_root, split_seed=4)
    assert not torch.equal(other.train_idx, ds.train_idx)
    assert other.train_idx.numel() == ds.train_idx.numel()


def test_accuracy_and_its_errors(data_root: Path) -> None:
    ds = load_node_dataset("cora", root=data_root)
    pred = ds.data.y.clone()
    pred[ds.test_idx[:100]] = (pred[ds.test_idx[:100]] + 1) % 7
    assert ds.accuracy(pred, ds.test_idx) == pytest.approx(0.9)
    logits = torch.nn.functional.one_hot(pred, 7).float()
    assert ds.accuracy(logits, ds.test_idx) == pytest.approx(0.9)
    mask = torch.zeros(ds.data.num_nodes, dtype=torch.bool)
    mask[ds.test_idx] = True
    assert ds.accuracy(pred, mask) == pytest.approx(0.9)
    assert ds.accuracy(pred, ds.train_idx) == 1.0
    for bad in (pred[:10], logits[:, :5], logits[None]):
        with pytest.raises(ValueError, match=r"^pred has shape .*N=2708 nodes and C=7 "
                                             r"classes$"):
            ds.accuracy(bad, ds.test_idx)
    with pytest.raises(ValueError, match="integer class ids"):
        ds.accuracy(pred.float(), ds.test_idx)
    with pytest.raises(ValueError, match="idx is empty"):
        ds.accuracy(pred, ds.test_idx[:0])
    data = ds.data.clone()
    data.y[5] = -1
    unlabelled = NodeDataset("cora", data, 7, ds.train_idx[6:], ds.val_idx, ds.test_idx, "mine")
    with pytest.raises(ValueError, match="idx holds 1 unlabelled nodes .*first node 5"):
        unlabelled.accuracy(pred, torch.arange(10))
    with pytest.raises(ValueError, match="train_idx holds 1 unlabelled nodes"):
        NodeDataset("cora", data, 7, ds.train_idx, ds.val_idx, ds.test_idx, "mine")


def test_construction_refuses_overlapping_or_unsorted_splits(data_root: Path) -> None:
    ds = load_node_dataset("cora", root=data_root)
    with pytest.raises(ValueError, match="val_idx shares 1 nodes with an earlier split"):
        NodeDataset("cora", ds.data, 7, ds.train_idx, torch.tensor([0, 1000]), ds.test_idx,
                    "mine")
    with pytest.raises(ValueError, match="must be sorted"):
        NodeDataset("cora", ds.data, 7, ds.train_idx.flip(0), ds.val_idx, ds.test_idx, "mine")
    with pytest.raises(ValueError, match="outside the node ids 0..2707"):
        NodeDataset("cora", ds.data, 7, torch.tensor([2708]), ds.val_idx, ds.test_idx, "mine")


def test_names_and_errors() -> None:
    assert set(NODE_SPLITS) == set(list_datasets("graph")) | {f"synthetic:{s}" for s in SHAPES}
    assert NODE_SPLITS["cora"] == "planetoid-public" and NODE_SPLITS["ogbn-products"] == "ogb"
    assert NODE_SPLITS["wiki"] == "per-class-20/30"
    assert NODE_SPLITS["synthetic:ogbn-arxiv"] == "random-0.537/0.176"
    with pytest.raises(ValueError, match=r"unknown node dataset 'pubmed'; valid names: cora, "
                                         r"citeseer, .*ogbn-products, synthetic:corafull"):
        load_node_dataset("pubmed")
    with pytest.raises(ValueError, match="unknown synthetic shape 'cora'.*synthetic:dblp"):
        load_node_dataset("synthetic:cora@0.5")
    with pytest.raises(ValueError, match="the scale in 'synthetic:dblp@half' must be a number"):
        load_node_dataset("synthetic:dblp@half")
    for scale in (0, 1.5, -1, float("nan")):
        with pytest.raises(ValueError, match=r"^scale must be a number with 0 < scale <= 1"):
            synthetic_node_dataset("dblp", scale)
    with pytest.raises(ValueError, match="scale=1e-05 is too small for the ogbn-arxiv shape"):
        synthetic_node_dataset("ogbn-arxiv", 1e-5)
    with pytest.raises(ValueError, match="split_seed must be an int"):
        load_node_dataset("cora", split_seed=0.5)


def test_synthetic_shapes_scaled_with_ogb_fractions() -> None:
    assert split_counts(169_343, "ogbn-arxiv") == (90_941, 29_799)
    assert split_counts(2_449_029, "ogbn-products") == (196_615, 39_323)
    ds = synthetic_node_dataset("ogbn-arxiv", 0.02, seed=1)
    assert ds.name == "synthetic:ogbn-arxiv@0.02" and ds.split == "random-0.537/0.176(seed=0)"
    assert ds.data.num_nodes == 3387 and ds.num_classes == 40 and ds.data.x.shape[1] == 128
    assert ds.train_idx.numel() == round(3387 * 90_941 / 169_343)
    assert ds.val_idx.numel() == round(3387 * 29_799 / 169_343)
    # 23,325 directed edges made undirected: each pair at most twice, the degree kept
    assert 23_325 < ds.data.edge_index.size(1) <= 2 * 23_325
    _disjoint_and_clean(ds)
    again = load_node_dataset("synthetic:ogbn-arxiv@0.02", split_seed=2)
    assert torch.equal(again.data.y, synthetic_node_dataset("ogbn-arxiv", 0.02).data.y)
    assert not torch.equal(again.train_idx, synthetic_node_dataset("ogbn-arxiv", 0.02).train_idx)
    sparse = synthetic_node_dataset("corafull", 0.05)
    assert sparse.data.x.layout == torch.strided and sparse.data.x.shape == (990, 8710)
    assert sparse.data.edge_index.size(1) == 2 * round(126_842 * 0.05 / 2)
    assert (sparse.train_idx.numel(), sparse.val_idx.numel(), sparse.test_idx.numel()) == (
        594, 198, 198)
    _disjoint_and_clean(sparse)


def _csv_gz(path: Path, rows: np.ndarray, fmt: str) -> None:
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt=fmt, delimiter=",")


def _write_ogb_products(root: Path, per_class: int = 21, split: bool = True) -> dict:
    """A small graph in OGB's raw ogbn-products layout (each edge stored once, 100-d)."""
    folder = root / "ogb/ogbn_products"
    (folder / "raw").mkdir(parents=True)
    (folder / "RELEASE_v1.txt").write_text("ogbn-products release v1\n")
    rng = np.random.default_rng(0)
    n = per_class * 47
    pairs = np.sort(rng.integers(0, n, (3 * n, 2)), axis=1)
    edges = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    y = np.repeat(np.arange(47), per_class)
    _csv_gz(folder / "raw/edge.csv.gz", edges, "%d")
    _csv_gz(folder / "raw/node-feat.csv.gz", rng.standard_normal((n, 100)), "%.4f")
    _csv_gz(folder / "raw/node-label.csv.gz", y.reshape(-1, 1), "%d")
    _csv_gz(folder / "raw/num-node-list.csv.gz", np.array([[n]]), "%d")
    _csv_gz(folder / "raw/num-edge-list.csv.gz", np.array([[len(edges)]]), "%d")
    order = rng.permutation(n)
    parts = np.split(order, [n // 10, n // 10 + n // 50])
    if split:
        (folder / "split/sales_ranking").mkdir(parents=True)
        for name, part in zip(("train", "valid", "test"), parts):
            _csv_gz(folder / f"split/sales_ranking/{name}.csv.gz", part.reshape(-1, 1), "%d")
    return {"edges": edges, "y": y, "parts": parts, "folder": folder}


def test_ogbn_products_through_ogb(tmp_path: Path) -> None:
    truth = _write_ogb_products(tmp_path)
    ds = load_node_dataset("ogbn-products", root=tmp_path, download=False)
    assert ds.split == "ogb" and ds.evaluator == "ogbn-products" and ds.num_classes == 47
    for idx, part in zip((ds.train_idx, ds.val_idx, ds.test_idx), truth["parts"]):
        assert idx.tolist() == sorted(part.tolist())
    assert ds.data.edge_index.size(1) == 2 * len(truth["edges"])
    assert torch.equal(ds.data.y, torch.from_numpy(truth["y"]))
    _disjoint_and_clean(ds)
    wrong = (ds.data.y + 1) % 47
    wrong[ds.test_idx[:7]] = ds.data.y[ds.test_idx[:7]]
    assert ds.accuracy(wrong, ds.test_idx) == pytest.approx(7 / ds.test_idx.numel())
    # the few-shot path: a seeded random class split, evaluation classes of >= 20 nodes
    data, split = load_graph("ogbn-products", root=tmp_path, download=False)
    assert torch.equal(data.edge_index, ds.data.edge_index)
    assert (len(split.train), len(split.val), len(split.test)) == (27, 10, 10)
    assert split.source == "random(seed=0)"


def test_ogbn_products_without_split_files(tmp_path: Path) -> None:
    truth = _write_ogb_products(tmp_path, per_class=1, split=False)
    with pytest.raises(FileNotFoundError) as err:
        load_node_dataset("ogbn-products", root=tmp_path, download=True)
    message = str(err.value)
    assert "\n" not in message and message.startswith("ogbn-products: missing OGB split files")
    assert "train.csv.gz, valid.csv.gz, test.csv.gz" in message
    assert str(truth["folder"] / "split/sales_ranking") in message
    assert "products.zip" in message
    assert not (truth["folder"] / "processed").exists()  # refused before OGB read anything


def test_ogbn_products_missing_offline(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_node_dataset("ogbn-products", root=tmp_path, download=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith("missing ogbn-products files")
    assert "raw/edge.csv.gz" in message and "split/sales_ranking/train.csv.gz" in message
    assert str(tmp_path / "ogb/ogbn_products") in message
    assert dataset_info("ogbn-products").files[0].url in message
    assert not (tmp_path / "ogb").exists()
