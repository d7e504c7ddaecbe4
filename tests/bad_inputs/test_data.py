"""Bad data, one case each: refused at load with a one-line ``ValueError`` that names the
dataset or file, the field, and how many entries are bad or where.

File cases corrupt copies of the real files in a scratch root and load them through a
catalog entry of their own (``dataclasses.replace``, sha256 unchecked), as a user with a
modified copy would; API cases build a small ``Data`` by hand.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from fgsam.data import ClassSplit, DatasetInfo, check_graph, dataset_info, load_graph
from fgsam.data.gpn_format import read_gpn_network
from fgsam.mol import MoleculeDataset


# ------------------------------------------------------------------------------ helpers
def _unchecked(name: str) -> DatasetInfo:
    """The catalog entry of ``name`` with every file's sha256 unchecked (no alternates)."""
    info = dataset_info(name)
    files = tuple(dataclasses.replace(s, sha256=None, alternates=()) for s in info.files)
    return dataclasses.replace(info, files=files)


def _copy(data_root: Path, root: Path, *paths: str) -> Path:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / rel, root / rel)
    return root


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _message(excinfo: pytest.ExceptionInfo, *parts: str) -> str:
    """The error's text, checked to be one line holding every one of ``parts``."""
    message = str(excinfo.value)
    assert excinfo.type is ValueError, excinfo.type
    assert "\n" not in message, message
    for part in parts:
        assert part in message, (part, message)
    return message


def _edit_csv(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell (``row`` counts data rows from 0) of a CSV, everything else as is."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[row + 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def _molecules(name: str, root: Path, tmp_path: Path, spec_index: int | None = None):
    info = dataset_info(name)
    spec = info.files[0] if spec_index is None else info.files[0].alternates[spec_index]
    local = dataclasses.replace(info, files=(dataclasses.replace(spec, sha256=None,
                                                                 alternates=()),))
    return MoleculeDataset(local, root, cache_dir=tmp_path / "cache", download=False, log=False)


def _small_graph(**fields) -> Data:
    base = {"x": torch.ones(6, 4), "edge_index": torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]),
            "y": torch.tensor([0, 1, 2, 0, 1, -1])}
    base.update(fields)
    return Data(**base)


# ------------------------------------------------------------------ few-shot graph files
CORA_RAW = [f"planetoid/Cora/raw/ind.cora.{s}" for s in
            ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]


def test_one_nan_in_one_cora_feature_row(data_root: Path, tmp_path: Path) -> None:
    _copy(data_root, tmp_path, *CORA_RAW)
    path = tmp_path / "planetoid/Cora/raw/ind.cora.allx"
    with open(path, "rb") as f:
        allx = pickle.load(f, encoding="latin1").tolil()
    allx[12, 40] = math.nan
    with open(path, "wb") as f:
        pickle.dump(allx.tocsr(), f, protocol=2)
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("cora"), root=tmp_path, download=False)
    _message(err, "dataset 'cora': x has 1 non-finite entry (NaN) in 1 row",
             "(first at row 12, column 40)", "fix or drop those nodes")


def test_truncated_cora_graph_pickle(data_root: Path, tmp_path: Path) -> None:
    _copy(data_root, tmp_path, *CORA_RAW)
    _truncate(tmp_path / "planetoid/Cora/raw/ind.cora.graph")
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("cora"), root=tmp_path, download=False)
    _message(err, str(tmp_path / "planetoid/Cora/raw/ind.cora.graph"),
             "cannot be read as a Planetoid pickle", "truncated")


def test_truncated_cora_ml_npz(data_root: Path, tmp_path: Path) -> None:
    _copy(data_root, tmp_path, "gnn-benchmark-npz/cora_ml.npz")
    _truncate(tmp_path / "gnn-benchmark-npz/cora_ml.npz")
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("cora-ml"), root=tmp_path, download=False)
    _message(err, str(tmp_path / "gnn-benchmark-npz/cora_ml.npz"),
             "cannot be read as a SparseGraph .npz", "BadZipFile")


def test_fractional_label_in_cora_ml_npz(data_root: Path, tmp_path: Path) -> None:
    with np.load(data_root / "gnn-benchmark-npz/cora_ml.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k.startswith(("adj", "attr"))}
        labels = npz["labels"].astype(np.float64)
    labels[7] = 0.5
    (tmp_path / "gnn-benchmark-npz").mkdir()
    np.savez(tmp_path / "gnn-benchmark-npz/cora_ml.npz", labels=labels, **arrays)
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("cora-ml"), root=tmp_path, download=False)
    _message(err, "cora_ml.npz: 'labels' has 1 non-integer entry (first at node 7: 0.5)")


def test_truncated_wiki_mat(data_root: Path, tmp_path: Path) -> None:
    _copy(data_root, tmp_path, "attributed-mat/wiki.mat")
    _truncate(tmp_path / "attributed-mat/wiki.mat", 0.3)
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("wiki"), root=tmp_path, download=False)
    _message(err, str(tmp_path / "attributed-mat/wiki.mat"),
             "cannot be read as a MATLAB .mat file with arrays network")


def test_infinite_feature_in_wiki_mat(data_root: Path, tmp_path: Path) -> None:
    mat = scipy.io.loadmat(data_root / "attributed-mat/wiki.mat")
    feature = sp.lil_matrix(mat["feature"], dtype=np.float64)
    feature[5, 3] = math.inf
    (tmp_path / "attributed-mat").mkdir()
    scipy.io.savemat(tmp_path / "attributed-mat/wiki.mat", {
        "network": mat["network"], "feature": feature.tocsc(), "group": mat["group"]})
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("wiki"), root=tmp_path, download=False)
    _message(err, "dataset 'wiki': x has 1 non-finite entry (inf) in 1 row",
             "(first at row 5, column 3)")


def test_wiki_node_in_two_groups(data_root: Path, tmp_path: Path) -> None:
    mat = scipy.io.loadmat(data_root / "attributed-mat/wiki.mat")
    group = sp.lil_matrix(mat["group"])
    taken = group[9].nonzero()[1][0]
    group[9, (taken + 1) % group.shape[1]] = 1
    (tmp_path / "attributed-mat").mkdir()
    scipy.io.savemat(tmp_path / "attributed-mat/wiki.mat", {
        "network": mat["network"], "feature": mat["feature"], "group": group.tocsc()})
    with pytest.raises(ValueError) as err:
        load_graph(_unchecked("wiki"), root=tmp_path, download=False)
    _message(err, "wiki.mat: 'group' must have exactly one label per node",
             "1 of 2405 nodes have none or several (first at node 9: 2)")


def _refused_email_edit(data_root: Path, tmp_path: Path, file: str, index: int, line: str,
                        *parts: str) -> None:
    """A copy of email-Eu-core whose ``file`` has line ``index`` replaced by ``line`` is
    refused at load with a message holding ``parts``."""
    info = _unchecked("email-eu-core")
    _copy(data_root, tmp_path, *(s.path for s in info.files))
    path = tmp_path / "email-eu-core" / file
    lines = path.read_text().splitlines()
    lines[index] = line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_graph(info, root=tmp_path, download=False)
    _message(err, *parts)


def test_negative_node_id_in_email_edges(data_root: Path, tmp_path: Path) -> None:
    _refused_email_edit(data_root, tmp_path, "email-Eu-core.txt", 3, "-3 5",
                        "email-Eu-core.txt: 1 negative src id (first at data row 4: -3)")


def test_float_cell_in_email_edges(data_root: Path, tmp_path: Path) -> None:
    _refused_email_edit(data_root, tmp_path, "email-Eu-core.txt", 1, "2 3.5",
                        "email-Eu-core.txt: cannot be read as a text file of 'src dst' integer "
                        "rows", "'3.5'")


def test_negative_department_label(data_root: Path, tmp_path: Path) -> None:
    _refused_email_edit(data_root, tmp_path, "email-Eu-core-department-labels.txt", 7, "7 -4",
                        "email-Eu-core-department-labels.txt: 1 negative label",
                        "(first at data row 8: -4)")


def test_lastfm_label_beyond_its_18_classes(data_root: Path, tmp_path: Path) -> None:
    info = _unchecked("lastfm-asia")
    _copy(data_root, tmp_path, *(s.path for s in info.files))
    _edit_csv(tmp_path / "lastfm-asia/target.csv", 3, "target", "99")
    with pytest.raises(ValueError) as err:
        load_graph(info, root=tmp_path, download=False)
    _message(err, "dataset 'lastfm-asia': y has 1 label >= 18, the number of classes",
             "(first at node 3: 99)", "class ids must be in 0..17")


def test_lastfm_edges_file_with_only_its_header(data_root: Path, tmp_path: Path) -> None:
    info = _unchecked("lastfm-asia")
    _copy(data_root, tmp_path, *(s.path for s in info.files))
    (tmp_path / "lastfm-asia/edges.csv").write_text("node_1,node_2\n")
    with pytest.raises(ValueError) as err:
        load_graph(info, root=tmp_path, download=False)
    _message(err, "edges.csv: no rows", "rows of two integers")


def _corafull_from_cora_ml(data_root: Path, root: Path) -> DatasetInfo:
    """The CoraFull entry reading a copy of cora_ml.npz (7 classes) and the published split."""
    info = _unchecked("corafull")
    npz, split = info.files
    (root / npz.path).parent.mkdir(parents=True)
    shutil.copyfile(data_root / "gnn-benchmark-npz/cora_ml.npz", root / npz.path)
    _copy(data_root, root, split.path)
    return info


def test_truncated_published_class_split(data_root: Path, tmp_path: Path) -> None:
    info = _corafull_from_cora_ml(data_root, tmp_path)
    _truncate(tmp_path / info.files[1].path)
    with pytest.raises(ValueError) as err:
        load_graph(info, root=tmp_path, download=False)
    _message(err, "corafull_class_split.json: cannot be read as a UTF-8 JSON list "
                  "[train, val, test] of class-id lists", "JSONDecodeError")


def test_published_split_naming_classes_no_node_has(data_root: Path, tmp_path: Path) -> None:
    info = _corafull_from_cora_ml(data_root, tmp_path)
    with pytest.raises(ValueError) as err:
        load_graph(info, root=tmp_path, download=False)
    _message(err, "dataset 'corafull': the class split (published) names 63 classes that no "
                  "node of y has", "and 60 more; y has 7 classes, ids 0..6")


def test_truncated_gpn_network_gz(data_root: Path, tmp_path: Path) -> None:
    rel = "fsnc/amazon-clothing_PARTIAL/amazon-clothing_network.gz"
    _copy(data_root, tmp_path, rel)
    _truncate(tmp_path / rel)
    with pytest.raises(ValueError) as err:
        read_gpn_network(tmp_path / rel)
    _message(err, str(tmp_path / rel), "cannot be read as a text file of 'src dst' integer rows",
             "EOFError")


def _ogb_arxiv(root: Path, n: int = 80) -> Path:
    """A small graph in OGB's raw ogbn-arxiv layout (two nodes per class)."""
    raw = root / "ogb/ogbn_arxiv/raw"
    raw.mkdir(parents=True)
    (raw.parent / "RELEASE_v1.txt").write_text("ogbn-arxiv release v1\n")
    rng = np.random.default_rng(0)
    tables = {"edge": np.stack([np.arange(n - 1), np.arange(1, n)], 1),
              "node-feat": rng.standard_normal((n, 128)).round(4),
              "node-label": (np.arange(n) % 40).reshape(-1, 1),
              "node_year": np.full((n, 1), 2015),
              "num-node-list": np.array([[n]]), "num-edge-list": np.array([[n - 1]])}
    for name, table in tables.items():
        with gzip.open(raw / f"{name}.csv.gz", "wt") as f:
            np.savetxt(f, table, fmt="%.4f" if name == "node-feat" else "%d", delimiter=",")
    return raw


def test_truncated_ogbn_arxiv_features(tmp_path: Path) -> None:
    raw = _ogb_arxiv(tmp_path)
    _truncate(raw / "node-feat.csv.gz")
    with pytest.raises(ValueError) as err:
        load_graph("ogbn-arxiv", root=tmp_path, download=False)
    _message(err, str(raw / "node-feat.csv.gz"),
             "cannot be read as a gzip-compressed CSV of numbers")


def test_ogbn_arxiv_nan_label(tmp_path: Path) -> None:
    raw = _ogb_arxiv(tmp_path)
    labels = (np.arange(80) % 40).astype(str)
    labels[4] = "nan"  # read as NaN by OGB's pandas; a blank line would be skipped instead
    with gzip.open(raw / "node-label.csv.gz", "wt") as f:
        f.write("\n".join(labels) + "\n")
    with pytest.raises(ValueError) as err:
        load_graph("ogbn-arxiv", root=tmp_path, download=False)
    _message(err, "dataset 'ogbn-arxiv': y has 1 non-integer label (first at node 4: nan)")


# ------------------------------------------------------------ user-built graphs (the API)
def test_api_nan_feature_row() -> None:
    x = torch.ones(6, 4)
    x[2, 0] = math.nan
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(x=x), "mine")
    _message(err, "dataset 'mine': x has 1 non-finite entry (NaN) in 1 row",
             "(first at row 2, column 0)")


def test_api_fractional_label() -> None:
    y = torch.tensor([0.0, 1.0, 2.5, 0.0, 1.0, -1.0])
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(y=y), "mine")
    _message(err, "dataset 'mine': y has 1 non-integer label (first at node 2: 2.5)")


def test_api_label_below_minus_one() -> None:
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(y=torch.tensor([0, 1, 2, -2, 1, -1])), "mine")
    _message(err, "dataset 'mine': y has 1 negative label other than -1 (first at node 3: -2)",
             "or -1 for an unlabelled node")


def test_api_label_equal_to_the_number_of_classes() -> None:
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(y=torch.tensor([0, 1, 3, 0, 1, -1])), "mine", num_classes=3)
    _message(err, "dataset 'mine': y has 1 label >= 3, the number of classes",
             "(first at node 2: 3)")


def test_api_edge_to_a_node_that_does_not_exist() -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 6, 4, 5]])
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(edge_index=edges), "mine")
    _message(err, "dataset 'mine': edge_index has 1 node id outside [0, 6)",
             "(first at edge 2: target 6)")


def test_api_negative_edge_index() -> None:
    edges = torch.tensor([[0, 1, -1, 3, 4], [1, 2, 3, 4, 5]])
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(edge_index=edges), "mine")
    _message(err, "edge_index has 1 node id outside [0, 6), 1 of them negative",
             "(first at edge 2: source -1)")


def test_api_split_naming_a_class_no_node_has() -> None:
    with pytest.raises(ValueError) as err:
        check_graph(_small_graph(), "mine", split=ClassSplit([0, 1], [2], [5]))
    _message(err, "dataset 'mine': the class split (custom) names 1 class that no node of y "
                  "has: test 5", "y has 3 classes, ids 0..2")


def test_api_feasible_on_nan_labels() -> None:
    y = torch.tensor([0.0, 1.0, math.nan, 0.0])
    with pytest.raises(ValueError) as err:
        ClassSplit([0], [1], [2]).feasible(y, min_nodes=1)
    _message(err, "y has 1 non-integer label (first at node 2: nan)")


# ------------------------------------------------------------------------- molecule CSVs
def test_infinite_label_in_esol(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/delaney-processed.csv")
    column = "measured log solubility in mols per litre"
    _edit_csv(root / "moleculenet/delaney-processed.csv", 4, column, "inf")
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molesol", root, tmp_path)
    _message(err, "delaney-processed.csv (dataset 'ogbg-molesol')", f"column {column!r}",
             "1 infinite label (first at line 6: inf)")


def test_label_2_in_binary_bbbp(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/BBBP.csv")
    _edit_csv(root / "moleculenet/BBBP.csv", 2, "p_np", "2")
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molbbbp", root, tmp_path)
    _message(err, "BBBP.csv (dataset 'ogbg-molbbbp'), column 'p_np'",
             "1 label other than 0 or 1 (first at line 4: 2)")


def test_labels_minus_one_and_half_in_clintox(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/clintox.csv")
    _edit_csv(root / "moleculenet/clintox.csv", 10, "CT_TOX", "-1")
    _edit_csv(root / "moleculenet/clintox.csv", 20, "CT_TOX", "0.5")
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molclintox", root, tmp_path)
    _message(err, "clintox.csv (dataset 'ogbg-molclintox'), column 'CT_TOX'",
             "2 labels other than 0 or 1 (first at line 12: -1; line 22: 0.5)")


def test_label_column_without_any_label(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/clintox.csv")
    path = root / "moleculenet/clintox.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0]] + [[*r[:2], ""] for r in rows[1:]])
    path.write_text(out.getvalue())
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molclintox", root, tmp_path)
    _message(err, "clintox.csv (dataset 'ogbg-molclintox'): 1 label column has no label at all",
             "every one of the 1484 cells is empty): ['CT_TOX']")


def test_empty_molecule_csv(tmp_path: Path) -> None:
    (tmp_path / "data/moleculenet").mkdir(parents=True)
    (tmp_path / "data/moleculenet/BBBP.csv").write_text("")
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molbbbp", tmp_path / "data", tmp_path)
    _message(err, "BBBP.csv (dataset 'ogbg-molbbbp') is empty",
             "expected a header with columns ['smiles', 'p_np']")


def test_molecule_csv_without_its_smiles_column(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/BBBP.csv")
    path = root / "moleculenet/BBBP.csv"
    text = path.read_text()
    path.write_text(text.replace("num,name,p_np,smiles", "num,name,p_np,SMILES", 1))
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molbbbp", root, tmp_path)
    _message(err, "BBBP.csv (dataset 'ogbg-molbbbp') lacks the columns ['smiles']",
             "found columns ['num', 'name', 'p_np', 'SMILES']")


def test_truncated_gzip_molecule_csv(data_root: Path, tmp_path: Path) -> None:
    root = _copy(data_root, tmp_path / "data", "moleculenet/HIV.csv.gz")
    _truncate(root / "moleculenet/HIV.csv.gz")
    with pytest.raises(ValueError) as err:
        _molecules("ogbg-molhiv", root, tmp_path, spec_index=0)
    _message(err, "HIV.csv.gz (dataset 'ogbg-molhiv'): cannot be read as a UTF-8 CSV file",
             "EOFError")
