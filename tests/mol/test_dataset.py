"""MoleculeDataset: real MoleculeNet files to OGB-featurised graphs, cache, and errors."""

from __future__ import annotations

import math
import os
import stat

import pytest
import torch

import fgsam.data.molecule_dataset as molecule_dataset  # the module whose featurize is read
from fgsam.mol import MoleculeDataset, molecule_cache_dir, molecule_names


@pytest.mark.slow
def test_bbbp_graphs_equal_smiles2graph_and_invalid_smiles_are_counted(mol_root, mol_cache):
    from ogb.utils import smiles2graph
    from rdkit import Chem, RDLogger

    dataset = MoleculeDataset("ogbg-molbbbp", mol_root, cache_dir=mol_cache, log=False)
    assert len(dataset) == 2039 and dataset.num_tasks == 1
    assert dataset.task_type == "binary classification" and dataset.eval_metric == "rocauc"
    assert len(dataset.skipped) == 11
    RDLogger.DisableLog("rdApp.*")
    rows = (mol_root / "moleculenet/BBBP.csv").read_text().splitlines()[1:]
    assert all(Chem.MolFromSmiles(rows[r].rsplit(",", 1)[1]) is None for r in dataset.skipped)
    RDLogger.EnableLog("rdApp.*")
    for i in range(0, len(dataset), 7):
        g, data = smiles2graph(dataset.smiles[i]), dataset[i]
        assert torch.equal(data.x, torch.from_numpy(g["node_feat"]))
        assert torch.equal(data.edge_index, torch.from_numpy(g["edge_index"]))
        assert torch.equal(data.edge_attr, torch.from_numpy(g["edge_feat"]))
        label = float(rows[dataset.rows[i]].split(",")[2])
        assert data.y.shape == (1, 1) and data.y.item() == label
    assert repr(dataset) == ("MoleculeDataset('ogbg-molbbbp', 2039 molecules, 1 task, "
                             "11 invalid SMILES skipped)")


def test_cache_is_written_atomically_then_reused(mol_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = MoleculeDataset("ogbg-molesol", mol_root, cache_dir=cache, log=False)
    assert [p.name for p in cache.iterdir()] == [first.cache_path.name]  # no temporary left
    monkeypatch.setattr(molecule_dataset, "featurize", _must_not_run)
    second = MoleculeDataset("ogbg-molesol", mol_root, cache_dir=cache, log=False)
    assert len(second) == len(first) == 1128
    assert torch.equal(second[5].x, first[5].x) and second.smiles == first.smiles
    assert second.task_type == "regression" and second.eval_metric == "rmse"


def test_a_corrupt_cache_is_rebuilt(mol_root, tmp_path):
    cache = tmp_path / "cache"
    dataset = MoleculeDataset("ogbg-molesol", mol_root, cache_dir=cache, log=False)
    dataset.cache_path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        again = MoleculeDataset("ogbg-molesol", mol_root, cache_dir=cache, log=False)
    assert len(again) == 1128


def test_multi_task_labels_keep_missing_entries_as_nan(mol_root, mol_cache):
    dataset = MoleculeDataset("ogbg-molclintox", mol_root, cache_dir=mol_cache, log=False)
    assert dataset.num_tasks == 2 and len(dataset) + len(dataset.skipped) == 1484
    y = torch.cat([dataset[i].y for i in range(len(dataset))])
    assert y.shape == (len(dataset), 2) and not torch.isnan(y).any()  # ClinTox has none
    assert dataset.get_idx_split("random", seed=1)["train"].numel() == int(0.8 * len(dataset))


def test_default_cache_goes_beside_the_csv_unless_that_folder_is_read_only(
        mol_root, tmp_path, monkeypatch):
    monkeypatch.delenv("FGSAM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    csv = mol_root / "moleculenet" / "delaney-processed.csv"
    assert molecule_cache_dir(source=csv) == csv.parent / "processed"
    mode = csv.parent.stat().st_mode
    os.chmod(csv.parent, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        assert molecule_cache_dir(source=csv) == tmp_path / "user-cache/fgsam/molecules"
        dataset = MoleculeDataset("ogbg-molesol", mol_root, log=False)
        assert dataset.cache_path.parent == tmp_path / "user-cache/fgsam/molecules"
        assert not (csv.parent / "processed").exists()
    finally:
        os.chmod(csv.parent, mode)
    monkeypatch.setenv("FGSAM_CACHE", str(tmp_path / "env-cache"))
    assert molecule_cache_dir(source=csv) == tmp_path / "env-cache"
    assert molecule_cache_dir(tmp_path / "arg", source=csv) == tmp_path / "arg"


def test_unknown_name_lists_the_valid_ones(mol_root):
    with pytest.raises(ValueError, match="unknown molecule dataset 'bbbp'; valid names: "
                                         "ogbg-molbbbp, ogbg-molbace"):
        MoleculeDataset("bbbp", mol_root)
    assert len(molecule_names()) == 9 and all(n.startswith("ogbg-mol") for n in molecule_names())


def test_missing_csv_names_the_file_its_folder_and_its_url(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MoleculeDataset("ogbg-mollipo", tmp_path, cache_dir=tmp_path, download=False)
    text = str(info.value)
    assert "Lipophilicity.csv" in text and str(tmp_path / "moleculenet") in text
    assert "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/Lipophilicity.csv" in text


def test_unknown_split_kind_is_refused(mol_root, mol_cache):
    dataset = MoleculeDataset("ogbg-molesol", mol_root, cache_dir=mol_cache, log=False)
    with pytest.raises(ValueError, match="split must be one of scaffold, random, got 'x'"):
        dataset.get_idx_split("x")
    assert not math.isnan(float(dataset[0].y))


def _must_not_run(*args, **kwargs):
    raise AssertionError("the cache should have been used")


def test_molecules_are_exported_from_fgsam_data_without_an_import_cycle():
    import subprocess
    import sys

    import fgsam.data

    assert fgsam.data.MoleculeDataset is MoleculeDataset and "MoleculeDataset" in fgsam.data.__all__
    # a fresh interpreter that imports fgsam.data first (the order that could cycle)
    code = ("from fgsam.data import MoleculeDataset; import fgsam.mol; "
            "assert MoleculeDataset is fgsam.mol.MoleculeDataset")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="has no attribute 'Molecules'"):
        fgsam.data.Molecules  # noqa: B018


def _own_entry(name: str):
    import dataclasses

    from fgsam.data import dataset_info

    info = dataset_info(name)
    spec = dataclasses.replace(info.files[0], sha256=None, alternates=())
    return dataclasses.replace(info, files=(spec,))


def test_an_entry_of_ones_own_reads_its_file(mol_root, tmp_path):
    path = mol_root / "moleculenet/delaney-processed.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:101]) + "\n")  # the header and 100 molecules
    dataset = MoleculeDataset(_own_entry("ogbg-molesol"), mol_root, cache_dir=tmp_path / "c",
                              log=False)
    assert len(dataset) == 100 and dataset.task_type == "regression"


def test_a_graph_entry_is_refused(mol_root):
    from fgsam.data import dataset_info

    with pytest.raises(ValueError, match="'cora' is a graph dataset; MoleculeDataset reads the "
                                         "molecule datasets ogbg-molbbbp"):
        MoleculeDataset(dataset_info("cora"), mol_root)


def test_bad_labels_are_refused_before_any_featurising_or_cache(mol_root, tmp_path, monkeypatch):
    path = mol_root / "moleculenet/BBBP.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",1,", ",-1,", 1)
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(molecule_dataset, "featurize", _must_not_run)
    with pytest.raises(ValueError, match=r"BBBP.csv \(dataset 'ogbg-molbbbp'\), column 'p_np': 1 "
                                         r"label other than 0 or 1 \(first at line 6: -1\)"):
        MoleculeDataset(_own_entry("ogbg-molbbbp"), mol_root, cache_dir=tmp_path / "c",
                        log=False)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_the_earlier_mol_import_paths_name_the_same_objects():
    import importlib

    import fgsam.data.molecule_cache as cache
    import fgsam.data.molecule_csv as molecule_csv
    import fgsam.data.molecule_features as features
    import fgsam.data.molecule_split as split
    import fgsam.mol

    old = {name: importlib.import_module(f"fgsam.mol.{name}")
           for name in ("dataset", "featurize", "split")}
    assert old["dataset"].MoleculeDataset is molecule_dataset.MoleculeDataset
    assert old["dataset"].check_cache_dir is cache.check_cache_dir
    assert old["dataset"].CACHE_FORMAT == cache.CACHE_FORMAT
    assert old["featurize"].read_molecule_csv is molecule_csv.read_molecule_csv
    assert old["featurize"].featurize is features.featurize
    assert fgsam.mol.featurize is features.featurize  # the function, not the module
    assert old["split"].scaffold_split is split.scaffold_split is fgsam.mol.scaffold_split
    assert old["split"].random_split is split.random_split
    assert old["split"].murcko_scaffold is split.murcko_scaffold
    for module in old.values():
        assert all(hasattr(module, name) for name in module.__all__)


def test_fgsam_data_imports_nothing_of_fgsam_mol():
    import subprocess
    import sys

    code = ("import sys, fgsam.data; "
            "mol = [m for m in sys.modules if m.startswith('fgsam.mol')]; "
            "assert not mol, mol")
    subprocess.run([sys.executable, "-c", code], check=True)
