"""Index splits of molecules into train/valid/test: Bemis-Murcko scaffolds (as OGB makes
them) and seeded random ones."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from fgsam._random import make_generator
from fgsam.data.molecule_features import quiet_rdkit


def murcko_scaffold(smiles: str, include_chirality: bool = True) -> str:
    """The Bemis–Murcko scaffold of a molecule as SMILES (``""`` for acyclic ones)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles, includeChirality=include_chirality)


def scaffold_split(
    smiles: Sequence[str], frac_train: float = 0.8, frac_valid: float = 0.1,
    frac_test: float = 0.1,
) -> dict[str, Tensor]:
    r"""Scaffold split as OGB makes it for ``ogbg-mol*`` (`Hu et al., "Strategies for
    Pre-training Graph Neural Networks" <https://arxiv.org/abs/1905.12265>`_).

    Molecules are grouped by Bemis–Murcko scaffold (with chirality); the groups are
    taken largest first (ties: the group whose first molecule comes later first) and
    each whole group goes to train while train stays within
    :math:`f_\mathrm{train} N`, else to valid while train + valid stay within
    :math:`(f_\mathrm{train} + f_\mathrm{valid}) N`, else to test. No scaffold is shared
    between two parts, and the split depends only on the SMILES and their order.

    Args:
        smiles (sequence of str): the molecules, in dataset order (all valid).
        frac_train (float, optional): (default: ``0.8``)
        frac_valid (float, optional): (default: ``0.1``)
        frac_test (float, optional): (default: ``0.1``)

    Returns:
        ``{"train", "valid", "test"}`` → sorted-by-group ``int64`` index tensors.

    Example:
        >>> split = scaffold_split(dataset.smiles)
        >>> train = dataset[split["train"]]
    """
    check_fractions(frac_train, frac_valid, frac_test)
    groups: dict[str, list[int]] = {}
    with quiet_rdkit():
        for i, s in enumerate(smiles):
            groups.setdefault(murcko_scaffold(s), []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    n = len(smiles)
    train_cut, valid_cut = frac_train * n, (frac_train + frac_valid) * n
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for group in ordered:
        if len(parts["train"]) + len(group) <= train_cut:
            parts["train"] += group
        elif len(parts["train"]) + len(parts["valid"]) + len(group) <= valid_cut:
            parts["valid"] += group
        else:
            parts["test"] += group
    return {k: torch.tensor(v, dtype=torch.long) for k, v in parts.items()}


def check_fractions(frac_train: float, frac_valid: float, frac_test: float) -> None:
    """Raise ``ValueError`` unless the three fractions are in [0, 1] and sum to 1."""
    fracs = {"frac_train": frac_train, "frac_valid": frac_valid, "frac_test": frac_test}
    for name, value in fracs.items():
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if abs(sum(fracs.values()) - 1.0) > 1e-6:
        raise ValueError(f"frac_train + frac_valid + frac_test must be 1, got "
                         f"{frac_train} + {frac_valid} + {frac_test}")


def random_split(num_molecules: int, seed: int = 0, frac_train: float = 0.8,
                 frac_valid: float = 0.1, frac_test: float = 0.1) -> dict[str, Tensor]:
    """A random permutation cut into train/valid/test, from its own generator.

    Sizes are ``int(frac_train N)``, ``int(frac_valid N)`` and the rest. The same
    ``seed`` gives the same split on every machine; the global RNG is not touched.

    Example:
        >>> split = random_split(len(dataset), seed=3)
    """
    check_fractions(frac_train, frac_valid, frac_test)
    if num_molecules < 0:
        raise ValueError(f"num_molecules must be >= 0, got {num_molecules}")
    perm = torch.randperm(num_molecules, generator=make_generator(seed, name="seed"))
    n_train, n_valid = int(frac_train * num_molecules), int(frac_valid * num_molecules)
    return {"train": perm[:n_train], "valid": perm[n_train:n_train + n_valid],
            "test": perm[n_train + n_valid:]}


__all__ = ["check_fractions", "murcko_scaffold", "random_split", "scaffold_split"]
