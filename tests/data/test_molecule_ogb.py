"""OGB's own molecule folders: read by OGB's PygGraphPropPredDataset, with OGB's split."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch

from fgsam.data import MoleculeDataset
from fgsam.data.molecule_ogb import ogb_molecule_folder

# 12 small molecules: the graphs of the tiny OGB-format folder the tests write
SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "c1ccncc1", "CCN", "C1CCCCC1O", "CC(C)O",
          "c1ccc2ccccc2c1", "OCC(O)CO", "C1CCNCC1", "CC#N", "c1ccoc1"]
LABELS = [0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1]
# an official split that no fgsam split would make (interleaved, not sorted by scaffold)
SPLIT = {"train": [0, 2, 3, 5, 6, 8, 9, 11], "valid": [1, 7], "test": [4, 10]}


def _write_csv(path: Path, rows, header: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([header] if header else []) + [",".join(str(v) for v in row) for row in rows]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def write_ogb_folder(root: Path, name: str = "ogbg-molbbbp", split: bool = True) -> Path:
    """OGB's on-disk layout of ``name`` (the zip OGB publishes), from ``SMILES``."""
    from ogb.utils import smiles2graph

    folder = root / "ogb" / name.replace("-", "_")
    nodes, edges, edge_feat, num_nodes, num_edges = [], [], [], [], []
    for s in SMILES:
        graph = smiles2graph(s)
        # OGB stores each bond once; add_inverse_edge puts the other direction back
        edges += graph["edge_index"][:, ::2].T.tolist()
        edge_feat += graph["edge_feat"][::2].tolist()
        nodes += graph["node_feat"].tolist()
        num_nodes.append([graph["num_nodes"]])
        num_edges.append([graph["edge_index"].shape[1] // 2])
    raw = folder / "raw"
    _write_csv(raw / "edge.csv.gz", edges)
    _write_csv(raw / "edge-feat.csv.gz", edge_feat)
    _write_csv(raw / "node-feat.csv.gz", nodes)
    _write_csv(raw / "num-node-list.csv.gz", num_nodes)
    _write_csv(raw / "num-edge-list.csv.gz", num_edges)
    _write_csv(raw / "graph-label.csv.gz", [[y] for y in LABELS])
    _write_csv(folder / "mapping" / "mol.csv.gz",
               [[y, s, i] for i, (y, s) in enumerate(zip(LABELS, SMILES))], "p_np,smiles,mol_id")
    if split:
        for part, index in SPLIT.items():
            _write_csv(folder / "split" / "scaffold" / f"{part}.csv.gz", [[i] for i in index])
    (folder / "RELEASE_v1.txt").write_text("")
    return folder


@pytest.fixture()
def ogb_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_ogb_folder(root)
    return root


def test_the_ogb_folder_is_read_by_ogb_with_its_official_split(ogb_root, tmp_path):
    from ogb.utils import smiles2graph

    dataset = MoleculeDataset("ogbg-molbbbp", ogb_root, cache_dir=tmp_path / "c", log=False)
    assert dataset.source_kind == "ogb" and dataset.source == ogb_root / "ogb" / "ogbg_molbbbp"
    assert dataset.source_sha256 is None and not (tmp_path / "c").exists()
    assert (dataset.source / "processed" / "geometric_data_processed.pt").is_file()
    assert len(dataset) == 12 and dataset.smiles == SMILES and dataset.tasks == ["p_np"]
    for i in (0, 7, 11):  # OGB's inverse edges give back smiles2graph's graph
        graph, own = dataset[i], smiles2graph(SMILES[i])
        assert torch.equal(graph.x, torch.from_numpy(own["node_feat"]))
        assert {tuple(e) for e in graph.edge_index.T.tolist()} == \
            {tuple(e) for e in own["edge_index"].T.tolist()}
        assert graph.y.dtype == torch.float32 and graph.y.tolist() == [[float(LABELS[i])]]
    split = dataset.get_idx_split("scaffold")
    assert {k: v.tolist() for k, v in split.items()} == SPLIT
    assert dataset.get_idx_split("random", seed=1)["train"].numel() == 9  # still fgsam's
    again = MoleculeDataset("ogbg-molbbbp", ogb_root, log=False)  # from OGB's processed/
    assert torch.equal(again._data.x, dataset._data.x)
    assert "12 molecules" in repr(dataset) and "OGB" in repr(dataset)


def test_the_split_and_the_json_record_ogbs_source(ogb_root, tmp_path):
    from fgsam.mol import MolConfig, MoleculeSplit
    from fgsam.mol.experiment import ogb_count_note, run_experiment

    dataset = MoleculeDataset("ogbg-molbbbp", ogb_root, log=False)
    data = MoleculeSplit.make(dataset, "scaffold")
    assert data.origin == "ogb-scaffold" and {k: v.tolist() for k, v in data.index.items()} == SPLIT
    assert ogb_count_note(dataset, "scaffold") is None  # the counts are OGB's own
    assert MoleculeSplit.make(dataset, "random", 0).origin == "random"
    small = MoleculeSplit.make(dataset, "scaffold", max_molecules=10)  # OGB's, cut to 10
    assert {k: v.tolist() for k, v in small.index.items()} == \
        {"train": [0, 2, 3, 5, 6, 8, 9], "valid": [1, 7], "test": [4]}
    config = MolConfig(dataset="ogbg-molbbbp", root=str(ogb_root), optimizers=["adam"],
                       seeds=[0], epochs=1, batch_size=4)
    out = tmp_path / "result.json"
    run_experiment(config, out=out, progress=False)
    result = json.loads(out.read_text())
    assert result["dataset"]["source"] == "ogb" and result["dataset"]["molecules"] == 12
    assert result["dataset"]["split"] == "ogb-scaffold"
    assert result["splits"][0]["split"] == "ogb-scaffold"
    assert result["splits"][0]["train"] == 8


def test_a_partial_ogb_folder_names_what_is_missing_before_any_work(tmp_path, monkeypatch):
    import ogb.graphproppred

    root = tmp_path / "data"
    folder = write_ogb_folder(root, split=False)
    monkeypatch.setattr(ogb.graphproppred, "PygGraphPropPredDataset", None)  # never reached
    with pytest.raises(FileNotFoundError) as err:
        MoleculeDataset("ogbg-molbbbp", root, log=False)
    message = str(err.value)
    assert "\n" not in message and str(folder) in message
    assert "split/scaffold/train.csv.gz, split/scaffold/valid.csv.gz" in message
    assert "bbbp.zip" in message and "MoleculeNet CSV" in message
    (folder / "RELEASE_v1.txt").unlink()  # OGB would ask on stdin whether to delete the folder
    (folder / "raw" / "edge.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks RELEASE_v1\.txt, raw/edge\.csv\.gz"):
        MoleculeDataset("ogbg-molbbbp", root, log=False)
    assert not (folder / "processed").exists()


def test_without_the_folder_the_csv_and_fgsams_split_are_used(data_root, tmp_path):
    from fgsam.mol import MoleculeSplit
    from fgsam.mol.experiment import ogb_count_note

    mol_root, mol_cache = tmp_path / "data", tmp_path / "cache"
    (mol_root / "moleculenet").mkdir(parents=True)
    shutil.copy(data_root / "moleculenet" / "clintox.csv", mol_root / "moleculenet")
    assert ogb_molecule_folder("ogbg-molclintox", mol_root) is None
    dataset = MoleculeDataset("ogbg-molclintox", mol_root, cache_dir=mol_cache, log=False)
    assert dataset.source_kind == "moleculenet-csv" and dataset.source.suffix == ".csv"
    assert MoleculeSplit.make(dataset, "scaffold").origin == "fgsam-scaffold"
    assert ogb_count_note(dataset, "scaffold") is not None  # 1,480 here, 1,477 in OGB
    # another dataset's OGB folder changes nothing for this one
    write_ogb_folder(mol_root)
    assert MoleculeDataset("ogbg-molclintox", mol_root, cache_dir=mol_cache,
                           log=False).source_kind == "moleculenet-csv"


def test_a_corrupt_ogb_file_is_named_in_one_line(tmp_path):
    root = tmp_path / "data"
    folder = write_ogb_folder(root)
    (folder / "raw" / "node-feat.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError) as err:
        MoleculeDataset("ogbg-molbbbp", root, log=False)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{folder / 'raw' / 'node-feat.csv.gz'}: cannot be read")
    write_ogb_folder(root)
    _write_csv(folder / "split" / "scaffold" / "test.csv.gz", [[4], [12]])  # 12 graphs: 0..11
    with pytest.raises(ValueError, match=r"scaffold: test holds graph ids outside 0\.\.11"):
        MoleculeDataset("ogbg-molbbbp", root, log=False)
