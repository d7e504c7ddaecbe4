"""The mol experiment's notes about its data."""

from __future__ import annotations

from fgsam.mol import MoleculeDataset
from fgsam.mol.experiment import ogb_count_note


def test_a_molecule_count_other_than_ogbs_is_said(data_root, mol_cache):
    clintox = MoleculeDataset("ogbg-molclintox", data_root, cache_dir=mol_cache, log=False)
    note = ogb_count_note(clintox, "scaffold")
    assert note is not None and "\n" not in note
    assert note.startswith(f"ogbg-molclintox: {len(clintox):,} molecules kept (")
    assert "where OGB's version has 1,477 graphs: the scaffold split" in note
    assert ogb_count_note(clintox, "random") is None  # no claim to OGB's split to qualify
    freesolv = MoleculeDataset("ogbg-molfreesolv", data_root, cache_dir=mol_cache, log=False)
    assert len(freesolv) == 642 and ogb_count_note(freesolv, "scaffold") is None
