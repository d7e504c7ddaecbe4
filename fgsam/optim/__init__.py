"""Sharpness-aware optimizers behind one contract, and the registry that builds them."""

from fgsam.optim.ae_sam import AESAM
from fgsam.optim.asam import ASAM
from fgsam.optim.base import SharpnessAwareOptimizer, frozen_batchnorm_stats
from fgsam.optim.esam import ESAM
from fgsam.optim.fgsam import FGSAM
from fgsam.optim.fgsam_plus import FGSAMPlus
from fgsam.optim.friendly_sam import FriendlySAM
from fgsam.optim.graphsam import GraphSAM
from fgsam.optim.looksam import LookSAM
from fgsam.optim.registry import (
    OPTIMIZERS,
    create_optimizer,
    get_optimizer_class,
    list_optimizers,
)
from fgsam.optim.sam import SAM
from fgsam.optim.ssam import SSAMD, SSAMF
from fgsam.optim.training_step import training_step
from fgsam.optim.vasso import VaSSO

__all__ = [
    "AESAM",
    "ASAM",
    "ESAM",
    "FGSAM",
    "OPTIMIZERS",
    "SAM",
    "SSAMD",
    "SSAMF",
    "FGSAMPlus",
    "FriendlySAM",
    "GraphSAM",
    "LookSAM",
    "SharpnessAwareOptimizer",
    "VaSSO",
    "create_optimizer",
    "frozen_batchnorm_stats",
    "get_optimizer_class",
    "list_optimizers",
    "training_step",
]
