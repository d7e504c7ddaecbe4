"""Molecular property prediction: MoleculeNet/OGB datasets, splits and the training loop."""

from fgsam.mol.cache_dir import molecule_cache_dir
from fgsam.mol.checkpoint import MolCheckpoint, load_mol_checkpoint, save_mol_checkpoint
from fgsam.mol.distributed import DistributedContext, init_distributed
from fgsam.mol.evaluate import evaluate, predict
from fgsam.mol.experiment import run_experiment
from fgsam.mol.featurize import featurize, smiles_to_data
from fgsam.mol.masked_loss import masked_loss
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_dataset import MoleculeDataset, molecule_info, molecule_names
from fgsam.mol.molecule_split import MoleculeSplit
from fgsam.mol.random_split import random_split
from fgsam.mol.scaffold_split import murcko_scaffold, scaffold_split
from fgsam.mol.target_scaling import TargetScaling
from fgsam.mol.train_epoch import train_epoch
from fgsam.mol.train_molecules import MolRun, train_molecules

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
