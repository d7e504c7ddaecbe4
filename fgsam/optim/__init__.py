"""Sharpness-aware optimizers behind one contract, and the registry that builds them."""

from fgsam.optim.asam import ASAM
from fgsam.optim.base import SharpnessAwareOptimizer, frozen_batchnorm_stats
from fgsam.optim.graphsam import GraphSAM
from fgsam.optim.registry import (
    OPTIMIZERS,
    create_optimizer,
    get_optimizer_class,
    list_optimizers,
)
from fgsam.optim.sam import SAM
from fgsam.optim.training_step import training_step

__all__ = [
    "ASAM",
    "GraphSAM",
    "OPTIMIZERS",
    "SAM",
    "SharpnessAwareOptimizer",
    "create_optimizer",
    "frozen_batchnorm_stats",
    "get_optimizer_class",
    "list_optimizers",
    "training_step",
]
