""":class:`MoleculeSplit`: a molecule dataset, its train/valid/test indices and their loaders.

The index splits themselves (scaffold, random) live in :mod:`fgsam.data.molecule_split`
and are re-exported here."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler
from torch_geometric.loader import DataLoader

from fgsam.data.molecule_dataset import MoleculeDataset
from fgsam.data.molecule_split import (
    check_fractions,
    murcko_scaffold,
    random_split,
    scaffold_split,
)
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.loss import masked_loss

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

        The scaffold split is OGB's own (its split files) when ``dataset`` was read from
        OGB's folder, else fgsam's (:func:`scaffold_split`); :attr:`origin` says which.
        Refuses a split with a part too small to train or score (:data:`MIN_SIZES`: two
        training molecules, so a shuffled epoch keeps a batch of two or more, and one
        each for validation and test), naming how many each part needs and got.
        """
        n = len(dataset) if max_molecules is None else min(int(max_molecules), len(dataset))
        if kind == "scaffold" and getattr(dataset, "ogb_split", None) is not None:
            # OGB's official split; a cut keeps, of each part, the molecules within it
            split = cls(dataset, {part: index[index < n] for part, index
                                  in dataset.get_idx_split("scaffold").items()}, kind, None)
        elif kind == "scaffold":
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
    def origin(self) -> str:
        """``"ogb-scaffold"`` (OGB's split files), ``"fgsam-scaffold"`` or ``"random"``."""
        if self.kind != "scaffold":
            return self.kind
        return "ogb-scaffold" if getattr(self.dataset, "ogb_split", None) is not None \
            else "fgsam-scaffold"

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
