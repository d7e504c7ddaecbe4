"""The splits: OGB's scaffold split (deterministic, scaffold-disjoint, 80/10/10, largest groups
first) and the seeded random split."""

from __future__ import annotations

import pytest
import torch

from fgsam.mol import MoleculeDataset
from fgsam.mol.split import murcko_scaffold, random_split, scaffold_split


def test_groups_are_taken_largest_first_then_by_later_first_member():
    benzene, pyridine, cyclohexane = "c1ccccc1", "c1ccncc1", "C1CCCCC1"
    smiles = [
        "CCO",  # 0: acyclic, scaffold ""
        "Cc1ccccc1",  # 1: benzene
        "Cc1ccncc1",  # 2: pyridine
        "Oc1ccccc1",  # 3: benzene
        "CC1CCCCC1",  # 4: cyclohexane
        "CCCC",  # 5: ""
        "Nc1ccccc1",  # 6: benzene
        "Nc1ccncc1",  # 7: pyridine
        "CCN",  # 8: ""
        "OC1CCCCC1",  # 9: cyclohexane
    ]
    assert murcko_scaffold(smiles[3]) == benzene and murcko_scaffold(smiles[7]) == pyridine
    assert murcko_scaffold(smiles[9]) == cyclohexane and murcko_scaffold(smiles[5]) == ""
    # groups: "" {0,5,8}, benzene {1,3,6}, pyridine {2,7}, cyclohexane {4,9}
    # order: size 3 with first member 1 (benzene) before first member 0 (""), then size 2
    # with first member 4 (cyclohexane) before 2 (pyridine).
    split = scaffold_split(smiles, 0.6, 0.2, 0.2)
    assert split["train"].tolist() == [1, 3, 6, 0, 5, 8]
    assert split["valid"].tolist() == [4, 9]
    assert split["test"].tolist() == [2, 7]


@pytest.mark.slow
def test_bbbp_split_is_deterministic_scaffold_disjoint_and_80_10_10(mol_root, mol_cache):
    dataset = MoleculeDataset("ogbg-molbbbp", mol_root, cache_dir=mol_cache, log=False)
    split = dataset.get_idx_split()
    again = dataset.get_idx_split("scaffold")
    assert all(torch.equal(split[k], again[k]) for k in split)
    sizes = {k: len(v) for k, v in split.items()}
    assert sizes == {"train": 1631, "valid": 204, "test": 204}  # ogbg-molbbbp's official sizes
    everything = torch.cat(list(split.values())).sort().values
    assert torch.equal(everything, torch.arange(len(dataset)))
    scaffolds = {k: {murcko_scaffold(dataset.smiles[i]) for i in v.tolist()}
                 for k, v in split.items()}
    assert not scaffolds["train"] & scaffolds["valid"]
    assert not scaffolds["train"] & scaffolds["test"]
    assert not scaffolds["valid"] & scaffolds["test"]


def test_fractions_are_validated():
    with pytest.raises(ValueError, match="must be 1"):
        scaffold_split(["C"], 0.8, 0.1, 0.2)
    with pytest.raises(ValueError, match=r"frac_valid must be in \[0, 1\], got -0.1"):
        scaffold_split(["C"], 0.9, -0.1, 0.2)


def test_same_seed_same_split_and_a_partition_of_the_right_sizes():
    a, b = random_split(1000, seed=7), random_split(1000, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "valid", "test")] == [800, 100, 100]
    assert torch.equal(torch.cat(list(a.values())).sort().values, torch.arange(1000))
    assert not torch.equal(random_split(1000, seed=8)["train"], a["train"])


def test_global_rng_is_left_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    random_split(50, seed=1)
    assert torch.equal(torch.rand(3), expected)
