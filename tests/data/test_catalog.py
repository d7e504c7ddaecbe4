"""The catalog: well-formed entries whose checksums agree with the real data root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fgsam.data import CATALOG, dataset_info, list_datasets
from fgsam.data.graph_catalog import GRAPHS

GRAPH_NAMES = ["cora", "citeseer", "cora-ml", "corafull", "wiki", "blogcatalog", "email-eu-core",
               "lastfm-asia", "dblp", "amazon-clothing", "amazon-clothing-test20",
               "amazon-electronics", "ogbn-arxiv", "ogbn-products"]


def _sha256sums(data_root: Path) -> dict[str, str]:
    lines = (data_root / "SHA256SUMS").read_text().splitlines()
    return {path.removeprefix("./"): sha for sha, path in (line.split() for line in lines)}


def test_graph_entries() -> None:
    assert list_datasets("graph") == GRAPH_NAMES
    assert [info.name for info in CATALOG[: len(GRAPHS)]] == GRAPH_NAMES
    assert len(set(list_datasets())) == len(CATALOG)
    for info in GRAPHS:
        assert info.kind == "graph" and info.citation and info.files
        assert {"nodes", "edges", "features", "classes"} <= set(info.stats)
        assert info.options["split"]["kind"] in {"published", "tlp", "gpn", "random"}
        for spec in info.files:
            for candidate in spec.candidates():
                assert re.fullmatch(r"https?://\S+", candidate.url), candidate.url
                assert candidate.sha256 is None or re.fullmatch(r"[0-9a-f]{64}",
                                                                candidate.sha256)


def test_every_checksum_agrees_with_the_data_root(data_root: Path) -> None:
    sums = _sha256sums(data_root)
    checked = set()  # amazon-clothing-test20 reads two of amazon-clothing's files
    for info in GRAPHS:
        for spec in info.files:
            for candidate in spec.candidates():
                if candidate.path in sums:
                    assert candidate.sha256 == sums[candidate.path], candidate.path
                    checked.add(candidate.path)
    # every few-shot file of the data root is in the catalog
    fsnc = {p for p in sums if not p.startswith("moleculenet/")}
    known = {c.path for info in GRAPHS for s in info.files for c in s.candidates()}
    assert fsnc - known == {"gnn-benchmark-npz/cora.npz", "gnn-benchmark-npz/citeseer.npz"}
    assert len(checked) == len(fsnc) - 2


def test_published_split_files_belong_to_their_datasets() -> None:
    for name in ("corafull", "dblp", "amazon-electronics", "ogbn-arxiv"):
        paths = [spec.path for spec in dataset_info(name).files]
        assert f"fsnc/class_split/{name}_class_split.json" in paths


def test_lookup_errors() -> None:
    assert dataset_info("Cora").name == "cora"
    with pytest.raises(ValueError, match=r"unknown dataset 'karate'.*cora, citeseer"):
        dataset_info("karate")
    with pytest.raises(ValueError, match="kind='image'"):
        list_datasets("image")


def test_ogbn_products_entry() -> None:
    info = dataset_info("ogbn-products")
    assert (info.kind, info.format) == ("graph", "ogb")
    assert info.stats == {"nodes": 2_449_029, "edges": 61_859_140, "features": 100,
                          "classes": 47}
    assert [spec.path for spec in info.files] == [
        f"ogb/ogbn_products/raw/{f}" for f in ("edge.csv.gz", "node-feat.csv.gz",
                                               "node-label.csv.gz", "num-edge-list.csv.gz",
                                               "num-node-list.csv.gz")]
    assert {spec.url for spec in info.files} == {
        "http://snap.stanford.edu/ogb/data/nodeproppred/products.zip"}
    # no published few-shot class split: load_graph's seeded random one
    assert info.options["split"] == {"kind": "random", "val": 10, "test": 10, "min_nodes": 20}


def test_the_amazon_clothing_subset_is_its_test_file_and_says_so(data_root: Path,
                                                                 capsys) -> None:
    from fgsam.cli import main
    from fgsam.data import load_graph
    from fgsam.data.gpn_format import read_gpn_mat

    data, split = load_graph("amazon-clothing-test20", data_root)
    assert (data.num_nodes, data.num_features, data.edge_index.size(1)) == (9360, 9034, 58154)
    sizes = data.y.bincount().tolist()
    assert len(sizes) == 20 and min(sizes) == 104 and sum(sizes) == 9360
    assert (len(split.train), len(split.val), len(split.test)) == (10, 5, 5)
    part = read_gpn_mat(data_root / "fsnc/amazon-clothing_PARTIAL/amazon-clothing_test.mat.gz")
    # node i of the subset is the i-th smallest id of the file, with its features
    assert data.x[0].tolist() == part.x[int(part.index.argmin())].tolist()
    assert dataset_info("amazon-clothing-test20").notes.startswith(
        "A subset, not the published Amazon-Clothing benchmark")
    assert main(["datasets", "--root", str(data_root)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("amazon-clothing-test20 "))
    assert "a subset of amazon-clothing, not its benchmark" in row
