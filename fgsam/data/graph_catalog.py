"""Catalog entries of the few-shot node-classification graphs.

Each file has its published URL and, where the file's bytes are known, its sha256. Statistics
are the published ones: ``nodes``, ``edges`` (undirected, without self-loops), ``features``
(as published; ``0`` for none) and ``classes``. ``options["split"]`` says how the class
split is made (see :func:`fgsam.data.load_graph`).
"""

from __future__ import annotations

from fgsam.data.dataset_info import DatasetInfo
from fgsam.data.files import FileSpec
from fgsam.data.ogbn_reader import OGBN_SETS
from fgsam.data.planetoid import PLANETOID_SUFFIXES

_PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
_GNN_BENCHMARK_URL = "https://github.com/shchur/gnn-benchmark/raw/master/data/npz"
_SPARSE_SMOOTHING_URL = ("https://github.com/abojchevski/sparse_smoothing/raw/"
                         "9add756987972991b50b4f1d87a00cd4e5e2f621/data")
_GAGE_URL = "https://github.com/tempcode06/GAGE/raw/ec27faae1e6131dcc17ddd667beb3af3ee7f5559/data"
_SNAP_URL = "https://snap.stanford.edu/data"
_KARATECLUB_URL = ("https://github.com/benedekrozemberczki/karateclub/raw/"
                   "cb46a91df8dcbeb2570debcf6a9d0c518107a2de/dataset/node_level/lastfm")
_GPN_URL = "https://github.com/kaize0409/GPN_Graph-Few-shot/raw/master/few_shot_data"
_FGSAM_SPLIT_URL = ("https://github.com/draym28/FGSAM_NeurIPS24/raw/"
                    "d530b53b0d7aca4648a03ad9e0202adda61ed58c/_data/_class_split")

_PLANETOID_SHA256 = {
    "cora": {
        "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    },
    "citeseer": {
        "x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
        "ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
        "ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
        "graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
    },
}

_SPLIT_SHA256 = {
    "corafull": "c5a4675ee549b76ac01339984a7422c2d5494c9d4cd865dba651ed4852c2361a",
    "dblp": "9e50a2fd5521977bb365307a2c7588c08bc581a3b01081ef9654b2cc721a7f64",
    "amazon-electronics": "cd2b87a9e803befc5bfd78976f886383cc3c3fcf2191fb77093ad0b0b6894f5f",
    "ogbn-arxiv": "70492fc4506a3e6a3e0f2572f55a6958f486c3b6b7378b0399b39f8984eb7cfc",
}

_FSNC_CITATION = (
    "Class split: S. Wang et al., Task-Adaptive Few-shot Node Classification (TENT), KDD 2022; "
    "as used by Y. Luo et al., Fast Graph Sharpness-Aware Minimization (FGSAM), NeurIPS 2024"
)
_TLP_NOTE = (
    "Class split as in TLP (Tan et al., Transductive Linear Probing, LoG 2022): the class ids "
    "are shuffled and cut into {counts} train/val/test classes. TLP shuffles without a seed; "
    "here the shuffle is a torch.randperm seeded with split_seed (default 0), which gives "
    "{example}."
)
_TLP_SEED0 = {
    "cora": "train [1, 2, 6], val [3, 5], test [0, 4]",
    "citeseer": "train [1, 4], val [0, 3], test [2, 5]",
    "cora-ml": "train [1, 2, 6], val [3, 5], test [0, 4]",
}
_RANDOM_NOTE = (
    "No published class split: a seeded random split (split_seed, default 0) with {val} "
    "validation and {test} test classes drawn from the classes with at least {min_nodes} "
    "nodes (so every evaluation task up to K + Q = {min_nodes} is feasible); all other "
    "classes are training classes."
)


def _planetoid(name: str, folder: str, stats: dict, counts: tuple[int, int, int]) -> DatasetInfo:
    files = tuple(
        FileSpec(f"planetoid/{folder}/raw/ind.{name}.{s}", f"{_PLANETOID_URL}/ind.{name}.{s}",
                 _PLANETOID_SHA256[name][s])
        for s in PLANETOID_SUFFIXES
    )
    return DatasetInfo(
        name=name, kind="graph", format="planetoid", files=files, stats=stats,
        citation="Z. Yang, W. Cohen, R. Salakhutdinov, Revisiting Semi-Supervised Learning with "
                 "Graph Embeddings, ICML 2016 (data: P. Sen et al., AI Magazine 2008)",
        options={"prefix": name, "split": {"kind": "tlp", "counts": counts}},
        notes=_TLP_NOTE.format(counts="/".join(map(str, counts)), example=_TLP_SEED0[name]),
    )


def _ogb_raw(name: str) -> tuple[FileSpec, ...]:
    """The raw files of an ``ogbn-*`` dataset; all come in one zip, so no sha256."""
    spec = OGBN_SETS[name]
    return tuple(FileSpec(f"{spec.folder}/raw/{f}", spec.url) for f in spec.raw)


def _published_split(name: str) -> FileSpec:
    filename = f"{name}_class_split.json"
    return FileSpec(f"fsnc/class_split/{filename}", f"{_FGSAM_SPLIT_URL}/{filename}",
                    _SPLIT_SHA256[name])


def _gpn_file(name: str, gpn_name: str, part: str, sha256: str | None = None,
              gz_sha256: str | None = None) -> FileSpec:
    path = f"fsnc/{name}/{name}_{part}"
    alternates: tuple[FileSpec, ...] = ()
    if gz_sha256 is not None:  # gzip copies, also as distributed without the train file
        alternates = (FileSpec(f"{path}.gz", f"{_GPN_URL}/{gpn_name}_{part}", gz_sha256),
                      FileSpec(f"fsnc/{name}_PARTIAL/{name}_{part}.gz",
                               f"{_GPN_URL}/{gpn_name}_{part}", gz_sha256))
    return FileSpec(path, f"{_GPN_URL}/{gpn_name}_{part}", sha256, alternates)


_GPN_CITATION = ("K. Ding, J. Wang, J. Li, K. Shu, C. Liu, H. Liu, Graph Prototypical Networks "
                 "for Few-shot Learning on Attributed Networks, CIKM 2020")

#: Amazon-Clothing's network and test file, read by ``amazon-clothing`` and its subset.
_CLOTHING_NETWORK = _gpn_file("amazon-clothing", "Amazon_clothing", "network",
                              "6362cf42e3d2eda602a6e237e1be0dfaa35efe7ab8eca0a9027a133c23954b2c",
                              "2ad1c2952dd174d6513313670b23b084e273a556f2560d6494c11c1f76b428b1")
_CLOTHING_TEST = _gpn_file("amazon-clothing", "Amazon_clothing", "test.mat",
                           "7656d0831b4a41f7aad1a9fc7cfb1434b920fa5ed5275a1e74aaefaea68eae81",
                           "9271695e0a8b38d25b55f0b4f11f7529289a3add49d774a51e07711ba0f83277")

#: The few-shot graphs, in the order ``fgsam datasets`` lists them.
GRAPHS: list[DatasetInfo] = [
    _planetoid("cora", "Cora", {"nodes": 2708, "edges": 5278, "features": 1433, "classes": 7},
               (3, 2, 2)),
    _planetoid("citeseer", "CiteSeer",
               {"nodes": 3327, "edges": 4552, "features": 3703, "classes": 6}, (2, 2, 2)),
    DatasetInfo(
        name="cora-ml", kind="graph", format="npz",
        files=(FileSpec("gnn-benchmark-npz/cora_ml.npz", f"{_SPARSE_SMOOTHING_URL}/cora_ml.npz",
                        "46b98cabc9c22c09de0d30140fbf68d004b21d2f05e234feb96ba6e84ec7c86a"),),
        stats={"nodes": 2995, "edges": 8158, "features": 2879, "classes": 7},
        citation="A. Bojchevski, S. Günnemann, Deep Gaussian Embedding of Graphs, ICLR 2018",
        options={"split": {"kind": "tlp", "counts": (3, 2, 2)}},
        notes=_TLP_NOTE.format(counts="3/2/2", example=_TLP_SEED0["cora-ml"]),
    ),
    DatasetInfo(
        name="corafull", kind="graph", format="npz",
        files=(FileSpec("gnn-benchmark-npz/cora_full.npz", f"{_GNN_BENCHMARK_URL}/cora_full.npz",
                        "a4e0516cf23ec24eca1ecc57e627414350219fa94337b5b2e232ab58acaf2df7"),
               _published_split("corafull")),
        stats={"nodes": 19793, "edges": 63421, "features": 8710, "classes": 70},
        citation="O. Shchur et al., Pitfalls of Graph Neural Network Evaluation, 2018; "
                 + _FSNC_CITATION,
        options={"split": {"kind": "published"}},
        notes="Dense features take about 0.7 GB in float32.",
    ),
    DatasetInfo(
        name="wiki", kind="graph", format="mat",
        files=(FileSpec("attributed-mat/wiki.mat", f"{_GAGE_URL}/wiki.mat",
                        "816ce9c745022a4f7e8dfc2b9e019979169250567b7d87fba5472c83fa9b7988"),),
        stats={"nodes": 2405, "edges": 11596, "features": 4973, "classes": 17},
        citation="C. Yang et al., Network Representation Learning with Rich Text Information "
                 "(TADW), IJCAI 2015",
        options={"split": {"kind": "random", "val": 5, "test": 5, "min_nodes": 20}},
        notes=_RANDOM_NOTE.format(val=5, test=5, min_nodes=20) + " The often quoted 17,981 "
              "links count both directions and self-loops; labels are renumbered 0..16 over the "
              "17 used columns of 'group'. Only 15 classes have 11 or more nodes and 14 have 12 "
              "or more, so 5-way tasks need K + Q <= 11 (1-shot with 10 queries, 3-shot with "
              "8, 5-shot with 6); with K + Q = 11 this split keeps 5/5/5 classes.",
    ),
    DatasetInfo(
        name="blogcatalog", kind="graph", format="mat",
        files=(FileSpec("attributed-mat/BlogCatalog.mat", f"{_GAGE_URL}/BlogCatalog.mat",
                        "eab07e54668989ca15d78ab8894d3a2eac785d00d6e0015f30534705de7b5ec3"),),
        stats={"nodes": 5196, "edges": 171743, "features": 8189, "classes": 6},
        citation="X. Huang, J. Li, X. Hu, Label Informed Attributed Network Embedding, WSDM 2017",
        options={"split": {"kind": "random", "val": 2, "test": 2, "min_nodes": 1}},
        notes=_RANDOM_NOTE.format(val=2, test=2, min_nodes=1),
    ),
    DatasetInfo(
        name="email-eu-core", kind="graph", format="edge_list",
        files=(FileSpec("email-eu-core/email-Eu-core.txt", f"{_SNAP_URL}/email-Eu-core.txt.gz",
                        "23e0ca0bce21a053025e78f7e9691ac9210ae806a0689bd5edff3c3bac572d4c"),
               FileSpec("email-eu-core/email-Eu-core-department-labels.txt",
                        f"{_SNAP_URL}/email-Eu-core-department-labels.txt.gz",
                        "91a089f21ee35eb224066456fa5322c8ad57c0f07b2da7a58a3220c72b5d54b5")),
        stats={"nodes": 1005, "edges": 16064, "features": 0, "classes": 42},
        citation="H. Yin, A. R. Benson, J. Leskovec, D. F. Gleich, Local Higher-order Graph "
                 "Clustering, KDD 2017 (SNAP)",
        options={"edges": "email-Eu-core.txt", "labels": "email-Eu-core-department-labels.txt",
                 "delimiter": None, "header": False, "features": "structural",
                 "split": {"kind": "random", "val": 7, "test": 7, "min_nodes": 15}},
        notes="The dataset has no node features: structural features are built (degree, "
              "clustering, spectral embedding; see data.features). 642 self-loops are dropped. "
              + _RANDOM_NOTE.format(val=7, test=7, min_nodes=15),
    ),
    DatasetInfo(
        name="lastfm-asia", kind="graph", format="edge_list",
        files=(FileSpec("lastfm-asia/edges.csv", f"{_KARATECLUB_URL}/edges.csv",
                        "4a6f555d2ccbbbaf1aa4f46b10b0e612aa515730a513d3e1ac951e1e4dcd733c"),
               FileSpec("lastfm-asia/target.csv", f"{_KARATECLUB_URL}/target.csv",
                        "91f19215f6eca8321feec038bd32900cf13fd4f7e041a9976cf202807c72ac16")),
        stats={"nodes": 7624, "edges": 27806, "features": 7842, "classes": 18},
        citation="B. Rozemberczki, R. Sarkar, Characteristic Functions on Graphs (FEATHER), "
                 "CIKM 2020 (SNAP feather-lastfm-social)",
        options={"edges": "edges.csv", "labels": "target.csv", "delimiter": ",", "header": True,
                 "features": "structural",
                 "split": {"kind": "random", "val": 5, "test": 5, "min_nodes": 20}},
        notes="The published 7,842 features are not used (the file is not in the catalog): "
              "structural features are built instead (see data.features), so accuracies are "
              "not comparable with feature-based results. "
              + _RANDOM_NOTE.format(val=5, test=5, min_nodes=20),
    ),
    DatasetInfo(
        name="dblp", kind="graph", format="gpn",
        files=(_gpn_file("dblp", "dblp", "network"), _gpn_file("dblp", "dblp", "train.mat"),
               _gpn_file("dblp", "dblp", "test.mat"), _published_split("dblp")),
        stats={"nodes": 40672, "edges": 288270, "features": 7202, "classes": 137},
        citation=_GPN_CITATION + "; " + _FSNC_CITATION,
        options={"split": {"kind": "published"}},
        notes="Dense features take about 1.2 GB in float32.",
    ),
    DatasetInfo(
        name="amazon-clothing", kind="graph", format="gpn",
        files=(
            _CLOTHING_NETWORK,
            _gpn_file("amazon-clothing", "Amazon_clothing", "train.mat"),
            _CLOTHING_TEST,
        ),
        stats={"nodes": 24919, "edges": 91680, "features": 9034, "classes": 77},
        citation=_GPN_CITATION + " (data: J. McAuley et al., Amazon product metadata, 2015)",
        options={"split": {"kind": "gpn", "val": 17}},
        notes="GPN's class split: the 20 classes of the _test.mat file are the test classes; "
              "17 of the _train.mat classes, drawn with split_seed, validate, the other 40 "
              "train. Dense features take about 0.9 GB in float32.",
    ),
    DatasetInfo(
        name="amazon-clothing-test20", kind="graph", format="gpn-subset",
        files=(
            _CLOTHING_NETWORK,
            _CLOTHING_TEST,
        ),
        stats={"nodes": 9360, "edges": 29077, "features": 9034, "classes": 20},
        citation=_GPN_CITATION + " (data: J. McAuley et al., Amazon product metadata, 2015)",
        options={"split": {"kind": "random", "val": 5, "test": 5, "min_nodes": 0},
                 "subset_of": "amazon-clothing"},
        notes="A subset, not the published Amazon-Clothing benchmark: the 9,360 nodes of the "
              "_test.mat file (GPN's 20 test classes), the subgraph they induce in the "
              "network, their 9,034 features. Classes are renumbered 0-19 in the order of "
              "GPN's class ids (2, 9, 11, ..., 65), and split by split_seed into 10 train, 5 "
              "validation and 5 test classes. Usable without the _train.mat file.",
    ),
    DatasetInfo(
        name="amazon-electronics", kind="graph", format="gpn",
        files=(
            _gpn_file("amazon-electronics", "Amazon_eletronics", "network",
                      "4aa2042f22bf88204552d770b9b8e4d65c6e19b188d44d216525a466ab23f4e1",
                      "cd9adc8bbfab1f9016846f98e9b643cc5a8c1ac9574a997f550820251d4c51ea"),
            _gpn_file("amazon-electronics", "Amazon_eletronics", "train.mat"),
            _gpn_file("amazon-electronics", "Amazon_eletronics", "test.mat"),
            _published_split("amazon-electronics"),
        ),
        stats={"nodes": 42318, "edges": 43556, "features": 8669, "classes": 167},
        citation=_GPN_CITATION + "; " + _FSNC_CITATION,
        options={"split": {"kind": "published"}},
        notes="GPN's files are named Amazon_eletronics_* (sic). Dense features take about "
              "1.5 GB in float32.",
    ),
    DatasetInfo(
        name="ogbn-arxiv", kind="graph", format="ogb",
        files=(*_ogb_raw("ogbn-arxiv"), _published_split("ogbn-arxiv")),
        stats={"nodes": 169343, "edges": None, "directed_edges": 1166243, "features": 128,
               "classes": 40},
        citation="W. Hu et al., Open Graph Benchmark, NeurIPS 2020; " + _FSNC_CITATION,
        options={"split": {"kind": "published"}},
        notes="Loaded with OGB's PygNodePropPredDataset from <root>/ogb/ogbn_arxiv (OGB writes "
              "processed/ there). OGB publishes 1,166,243 directed citations; the loader "
              "makes them undirected. The node-classification split (load_node_dataset) is "
              "OGB's split/time/ folder of the same zip.",
    ),
    DatasetInfo(
        name="ogbn-products", kind="graph", format="ogb",
        files=_ogb_raw("ogbn-products"),
        stats={"nodes": 2449029, "edges": 61859140, "features": 100, "classes": 47},
        citation="W. Hu et al., Open Graph Benchmark, NeurIPS 2020 (data: K. Bhatia et al., "
                 "The extreme classification repository, Amazon co-purchasing network)",
        options={"split": {"kind": "random", "val": 10, "test": 10, "min_nodes": 20}},
        notes="Loaded with OGB's PygNodePropPredDataset from <root>/ogb/ogbn_products (OGB "
              "writes processed/ there; the zip is about 1.4 GB). The node-classification "
              "split (load_node_dataset) is OGB's split/sales_ranking/ folder of the same zip. "
              + _RANDOM_NOTE.format(val=10, test=10, min_nodes=20)
              + " Dense features take about 1 GB and edge_index about 2 GB.",
    ),
]

__all__ = ["GRAPHS"]
