"""Molecular property prediction: MoleculeNet/OGB datasets, splits and the training loop."""

from fgsam.data.molecule_cache import molecule_cache_dir
from fgsam.data.molecule_dataset import MoleculeDataset, molecule_info, molecule_names
from fgsam.data.molecule_split import murcko_scaffold, random_split, scaffold_split
from fgsam.mol.config import MolConfig
from fgsam.mol.distributed import DistributedContext, init_distributed
from fgsam.mol.experiment import run_experiment
from fgsam.mol.featurize import featurize, smiles_to_data  # binds the function over the module
from fgsam.mol.loss import masked_loss
from fgsam.mol.model import (
    MolCheckpoint,
    TargetScaling,
    evaluate,
    load_mol_checkpoint,
    predict,
    save_mol_checkpoint,
)
from fgsam.mol.split import MoleculeSplit
from fgsam.mol.train import MolRun, train_epoch, train_molecules

__all__ = [
    "DistributedContext",
    "MolCheckpoint",
    "MolConfig",
    "MolRun",
    "MoleculeDataset",
    "MoleculeSplit",
    "TargetScaling",
    "evaluate",
    "featurize",
    "init_distributed",
    "load_mol_checkpoint",
    "masked_loss",
    "molecule_cache_dir",
    "molecule_info",
    "molecule_names",
    "murcko_scaffold",
    "predict",
    "random_split",
    "run_experiment",
    "save_mol_checkpoint",
    "scaffold_split",
    "smiles_to_data",
    "train_epoch",
    "train_molecules",
]
