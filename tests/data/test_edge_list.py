"""Plain-text edge and label lists: SNAP email-Eu-core, LastFM Asia, gzip and headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from fgsam.data.edge_list import read_edge_list, read_node_labels


def test_email_eu_core_raw_rows(data_root: Path) -> None:
    edges = read_edge_list(data_root / "email-eu-core/email-Eu-core.txt")
    assert edges.shape == (2, 25_571)  # SNAP's directed rows
    assert int((edges[0] == edges[1]).sum()) == 642  # self-loops, dropped by load_graph
    y = read_node_labels(data_root / "email-eu-core/email-Eu-core-department-labels.txt")
    assert y.numel() == 1_005 and int(y.min()) == 0 and int(y.unique().numel()) == 42
    sizes = sorted(torch.bincount(y).tolist(), reverse=True)
    assert sizes[:3] == [109, 92, 65] and sizes[-3:] == [2, 1, 1]


def test_lastfm_asia_csv_with_header(data_root: Path) -> None:
    edges = read_edge_list(data_root / "lastfm-asia/edges.csv", delimiter=",", header=True)
    assert edges.shape == (2, 27_806)
    y = read_node_labels(data_root / "lastfm-asia/target.csv", delimiter=",", header=True)
    assert y.numel() == 7_624 and int(y.unique().numel()) == 18 and int(y.min()) == 0


def test_gzip_file_and_unlabelled_nodes(tmp_path: Path) -> None:
    path = tmp_path / "e.txt.gz"
    path.write_bytes(gzip.compress(b"0 1\n1 2\n"))
    assert read_edge_list(path).tolist() == [[0, 1], [1, 2]]
    labels = tmp_path / "labels.txt"
    labels.write_text("0 3\n2 1\n")
    assert read_node_labels(labels, num_nodes=4).tolist() == [3, -1, 1, -1]
    with pytest.raises(ValueError, match="num_nodes=2"):
        read_node_labels(labels, num_nodes=2)


def test_conflicting_labels_and_bad_rows(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("0 3\n0 1\n")
    with pytest.raises(ValueError, match="two different labels"):
        read_node_labels(labels)
    three = tmp_path / "three.txt"
    three.write_text("0 1 2\n")
    with pytest.raises(ValueError, match="2 columns"):
        read_edge_list(three)


def test_empty_files_and_negative_ids_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.txt: no rows; expected 'src dst' rows"):
        read_edge_list(empty)
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n2 -1\n-4 3\n5 -6\n")
    with pytest.raises(ValueError, match=r"edges.txt: 1 negative src id \(first at data row 3: "
                                         r"-4\); each must be a node id >= 0"):
        read_edge_list(edges)
    labels = tmp_path / "labels.txt"
    labels.write_text("0 1\n1 -2\n2 -1\n")
    with pytest.raises(ValueError, match=r"labels.txt: 2 negative labels \(first at data row 2: "
                                         r"-2; row 3: -1\)"):
        read_node_labels(labels)


def test_undecodable_rows_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_text("0 1\n1 x\n")
    with pytest.raises(ValueError, match=r"e.txt: cannot be read as a text file of 'src dst' "
                                         r"integer rows \(ValueError: .*'x'"):
        read_edge_list(path)
    packed = tmp_path / "e.txt.gz"
    packed.write_bytes(gzip.compress(b"0 1\n" * 1000)[:30])
    with pytest.raises(ValueError, match=r"e.txt.gz: cannot be read .*EOFError"):
        read_edge_list(packed)
