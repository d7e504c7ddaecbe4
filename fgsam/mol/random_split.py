"""A seeded random split of a molecule dataset."""

from __future__ import annotations

import torch
from torch import Tensor

from fgsam.mol.scaffold_split import check_fractions


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
    perm = torch.randperm(num_molecules, generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = int(frac_train * num_molecules), int(frac_valid * num_molecules)
    return {"train": perm[:n_train], "valid": perm[n_train:n_train + n_valid],
            "test": perm[n_train + n_valid:]}


__all__ = ["random_split"]
