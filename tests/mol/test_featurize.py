"""Reading MoleculeNet CSVs: columns, missing labels, gzip, and clear errors."""

from __future__ import annotations

import gzip
import math

import pytest
import torch

from fgsam.mol.featurize import read_molecule_csv


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


def _csv(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_catalog_csv_here_passes_the_checks(data_root):
    from fgsam.data.molecule_catalog import MOLECULES

    read = 0
    for info in MOLECULES:
        for rel, columns in info.options["columns"].items():
            if (data_root / rel).is_file():
                smiles, y = read_molecule_csv(data_root / rel, columns["smiles"],
                                              columns["labels"],
                                              task_type=info.options["task_type"],
                                              name=info.name)
                assert len(smiles) == y.size(0) > 0
                read += 1
    assert read >= 9


def test_binary_labels_other_than_0_and_1_name_column_count_and_lines(tmp_path):
    path = _csv(tmp_path, "smiles,a,b\nC,1,0\nCC,2,1\nCCC,0,-1\nCCO,0.5,\nCN,1,3\n")
    with pytest.raises(ValueError) as info:
        read_molecule_csv(path, "smiles", ["a", "b"], task_type="binary classification",
                          name="toy")
    message = str(info.value)
    assert message.startswith(f"{path} (dataset 'toy'), column 'a': 2 labels other than 0 or 1 "
                              f"(first at line 3: 2; line 5: 0.5); columns ['b'] have such "
                              f"labels too;")
    assert "\n" not in message


def test_regression_labels_may_be_any_finite_number_or_missing(tmp_path):
    path = _csv(tmp_path, "smiles,a\nC,-3.5\nCC,\nCCC,1e30\nCCO,nan\n")
    _, y = read_molecule_csv(path, "smiles", ["a"], task_type="regression")
    assert y[0, 0] == -3.5 and y[2, 0] == 1e30 and torch.isnan(y[[1, 3], 0]).all()


@pytest.mark.parametrize("task_type", [None, "regression", "binary classification"])
def test_infinite_labels_are_refused_for_every_task_type(tmp_path, task_type):
    path = _csv(tmp_path, "smiles,a\nC,1\nCC,-inf\nCCC,1e999\n")
    with pytest.raises(ValueError, match=r"column 'a': 2 infinite labels \(first at line 3: "
                                         r"-inf; line 4: inf\); a label must be a finite number"):
        read_molecule_csv(path, "smiles", ["a"], task_type=task_type)


def test_a_column_without_any_label_is_named(tmp_path):
    path = _csv(tmp_path, "smiles,a,b,c\nC,1,,\nCC,0,,\n")
    with pytest.raises(ValueError, match=r"2 label columns have no label at all \(every one of "
                                         r"the 2 cells is empty\): \['b', 'c'\]"):
        read_molecule_csv(path, "smiles", ["a", "b", "c"])


def test_empty_file_header_only_and_ragged_rows(tmp_path):
    with pytest.raises(ValueError, match="is empty: expected a header"):
        read_molecule_csv(_csv(tmp_path, ""), "smiles", ["y"])
    with pytest.raises(ValueError, match="has a header but no data rows"):
        read_molecule_csv(_csv(tmp_path, "smiles,y\n\n"), "smiles", ["y"])
    with pytest.raises(ValueError, match="line 3: 3 cells, header has 2"):
        read_molecule_csv(_csv(tmp_path, "smiles,y\nC,1\nCC,1,0\n"), "smiles", ["y"])
    with pytest.raises(ValueError, match=r"has the columns \['y'\] more than once"):
        read_molecule_csv(_csv(tmp_path, "smiles,y,y\nC,1,0\n"), "smiles", ["y"])


def test_undecodable_and_truncated_files_name_the_file(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("smiles,y\nC\xe9,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv: cannot be read as a UTF-8 CSV file "
                                         r"\(.*\(UnicodeDecodeError: "):
        read_molecule_csv(latin, "smiles", ["y"])
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress(b"smiles,y\n" + b"CCO,1\n" * 500)[:40])
    with pytest.raises(ValueError, match=r"cut.csv.gz: cannot be read as .*EOFError"):
        read_molecule_csv(cut, "smiles", ["y"])


def test_line_numbers_count_the_lines_of_quoted_cells(tmp_path):
    path = _csv(tmp_path, 'smiles,name,y\nC,"two\nlines",1\nCC,x,7\n')
    with pytest.raises(ValueError, match=r"1 label other than 0 or 1 \(first at line 4: 7\)"):
        read_molecule_csv(path, "smiles", ["y"], task_type="binary classification")


def test_unknown_task_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="task_type='multiclass' is not one of binary "
                                         "classification, regression"):
        read_molecule_csv(_csv(tmp_path, "smiles,y\nC,1\n"), "smiles", ["y"],
                          task_type="multiclass")
