"""Train/valid/test splits of molecules: Bemis-Murcko scaffolds, random ones, and
:class:`MoleculeSplit`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler
from torch_geometric.loader import DataLoader

from fgsam.mol.distributed import DistributedContext
from fgsam.mol.featurize import quiet_rdkit
from fgsam.mol.loss import masked_loss

if TYPE_CHECKING:  # the dataset module imports the splits of this one
    from fgsam.mol.dataset import MoleculeDataset


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
    perm = torch.randperm(num_molecules, generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = int(frac_train * num_molecules), int(frac_valid * num_molecules)
    return {"train": perm[:n_train], "valid": perm[n_train:n_train + n_valid],
            "test": perm[n_train + n_valid:]}


PARTS = ("train", "valid", "test")
#: The fewest molecules each part may hold: two to train on (a last training batch of one
#: molecule is dropped, see :meth:`MoleculeSplit.loader`), one to validate and test on.
MIN_SIZES = {"train": 2, "valid": 1, "test": 1}


@dataclass
class MoleculeSplit:
    """A :class:`MoleculeDataset` and the indices of its train/valid/test molecules.

    Args:
        dataset (MoleculeDataset): the whole dataset.
        index (dict): ``{"train", "valid", "test"}`` → indices into ``dataset``.
        kind (str): ``"scaffold"`` or ``"random"``.
        seed (int, optional): the random split's seed (``None`` for scaffold).

    Example:
        >>> data = MoleculeSplit.make(MoleculeDataset("ogbg-molbace"))
        >>> for batch in data.loader("train", batch_size=32, shuffle=True, seed=0):
        ...     loss = data.loss(model(batch), batch.y)
    """

    dataset: MoleculeDataset
    index: dict[str, Tensor]
    kind: str = "scaffold"
    seed: int | None = None

    @classmethod
    def make(cls, dataset: MoleculeDataset, kind: str = "scaffold", seed: int = 0,
             max_molecules: int | None = None) -> MoleculeSplit:
        """Split ``dataset`` (only its first ``max_molecules`` molecules if given).

        Refuses a split with a part too small to train or score (:data:`MIN_SIZES`: two
        training molecules, so a shuffled epoch keeps a batch of two or more, and one
        each for validation and test), naming how many each part needs and got.
        """
        n = len(dataset) if max_molecules is None else min(int(max_molecules), len(dataset))
        if kind == "scaffold":
            split = cls(dataset, scaffold_split(dataset.smiles[:n]), kind, None)
        elif kind == "random":
            split = cls(dataset, random_split(n, seed), kind, seed)
        else:
            raise ValueError(f"split must be 'scaffold' or 'random', got {kind!r}")
        sizes = split.sizes
        if any(sizes[part] < need for part, need in MIN_SIZES.items()):
            what = (f"--max-molecules {max_molecules}" if max_molecules is not None
                    else f"{dataset.name}")
            got = ", ".join(f"{part} {sizes[part]}" for part in PARTS)
            need = ", ".join(f"{part} {MIN_SIZES[part]}" for part in PARTS)
            raise ValueError(f"{what}: the {kind} split of {n} molecules gives too few: {got} "
                             f"(each part needs at least: {need}); use more molecules")
        return split

    @property
    def sizes(self) -> dict[str, int]:
        return {part: int(self.index[part].numel()) for part in PARTS}

    def subset(self, part: str) -> MoleculeDataset:
        """The molecules of ``part`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        return self.dataset[self.index[part]]

    def loader(self, part: str, batch_size: int = 256, shuffle: bool = False, seed: int = 0,
               ctx: DistributedContext | None = None) -> DataLoader:
        """Batches of ``part``; each process gets its share (a ``DistributedSampler``,
        padded to equal shares). ``batch_size`` is the global batch, split evenly over
        the processes; shuffling is seeded by ``seed`` (call ``loader.sampler.set_epoch``
        each epoch), so one process and N processes see the same global batches."""
        ctx = ctx or DistributedContext()
        if batch_size < 1 or batch_size % ctx.world_size:
            raise ValueError(f"batch_size must be a positive multiple of the number of "
                             f"processes ({ctx.world_size}), got {batch_size}")
        subset = self.subset(part)
        sampler = DistributedSampler(subset, num_replicas=ctx.world_size, rank=ctx.rank,
                                     shuffle=shuffle, seed=seed)
        per_process = batch_size // ctx.world_size
        # A last batch of one molecule breaks BatchNorm in training; drop only that one.
        drop_last = shuffle and len(sampler) % per_process == 1
        return DataLoader(subset, batch_size=per_process, sampler=sampler, drop_last=drop_last)

    def loss(self, pred: Tensor, y: Tensor, per_sample: bool = False) -> Tensor:
        """:func:`~fgsam.mol.masked_loss` with this dataset's task type."""
        return masked_loss(pred, y, self.dataset.task_type, per_sample)

    def __repr__(self) -> str:
        sizes = "/".join(str(v) for v in self.sizes.values())
        how = self.kind if self.seed is None else f"{self.kind}, seed {self.seed}"
        return f"MoleculeSplit({self.dataset.name!r}, {how}, train/valid/test {sizes})"


def sampler_indices(loader: DataLoader) -> Tensor:
    """The subset indices this process's loader visits, in order (unshuffled loaders)."""
    return torch.tensor(list(iter(loader.sampler)), dtype=torch.long)


__all__ = [
    "MIN_SIZES",
    "PARTS",
    "MoleculeSplit",
    "check_fractions",
    "murcko_scaffold",
    "random_split",
    "sampler_indices",
    "scaffold_split",
]
