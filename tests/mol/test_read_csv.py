"""Reading MoleculeNet CSVs: columns, missing labels, gzip, and clear errors."""

from __future__ import annotations

import gzip
import math

import pytest
import torch

from fgsam.mol.read_csv import read_molecule_csv


def test_empty_cells_are_missing_labels_not_zeros(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("smiles,a,b\nCCO,1,\nc1ccccc1,,0\n")
    smiles, y = read_molecule_csv(path, "smiles", ["b", "a"])
    assert smiles == ["CCO", "c1ccccc1"]
    assert y.dtype == torch.float32 and y.shape == (2, 2)
    assert math.isnan(y[0, 0]) and y[0, 1] == 1 and y[1, 0] == 0 and math.isnan(y[1, 1])


def test_real_tox21_keeps_its_16026_missing_labels(data_root):
    smiles, y = read_molecule_csv(data_root / "moleculenet/tox21.csv", "smiles",
                                  ["NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER",
                                   "NR-ER-LBD", "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5",
                                   "SR-HSE", "SR-MMP", "SR-p53"])
    assert len(smiles) == 7831 and y.shape == (7831, 12)
    assert int(torch.isnan(y).sum()) == 16026
    assert set(y[~torch.isnan(y)].unique().tolist()) == {0.0, 1.0}


def test_gzip_copy_reads_like_the_plain_file(data_root):
    plain = read_molecule_csv(data_root / "moleculenet/chemprop_format/bace.csv", "smiles",
                              ["Class"])
    assert len(plain[0]) == 1513 and int(plain[1].sum()) == 691
    hiv = read_molecule_csv(data_root / "moleculenet/HIV.csv.gz", "smiles", ["HIV_active"])
    assert len(hiv[0]) == 41127 and int(hiv[1].sum()) == 1443


def test_a_csv_without_the_expected_columns_says_which_columns_it_found(tmp_path):
    path = tmp_path / "m.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("SMILES,target\nCCO,1\n")
    with pytest.raises(ValueError, match=r"lacks the columns \['smiles', 'p_np'\].*"
                                         r"found columns \['SMILES', 'target'\]"):
        read_molecule_csv(path, "smiles", ["p_np"])


def test_a_non_numeric_label_names_its_line_and_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("smiles,y\nCCO,1\nCC,yes\n")
    with pytest.raises(ValueError, match=r"line 3, column 'y': 'yes' is not a number"):
        read_molecule_csv(path, "smiles", ["y"])
