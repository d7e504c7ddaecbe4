"""Sharpness-aware optimizers behind one contract, and the registry that builds them."""

from fgsam.optim.accumulation import accumulate, accumulation_step
from fgsam.optim.ae_sam import AESAM
from fgsam.optim.asam import ASAM
from fgsam.optim.base import SharpnessAwareOptimizer, frozen_batchnorm_stats
from fgsam.optim.esam import ESAM
from fgsam.optim.f2m import F2M
from fgsam.optim.fgsam import FGSAM
from fgsam.optim.fgsam_plus import FGSAMPlus
from fgsam.optim.fgsam_rho0 import FGSAMRho0
from fgsam.optim.friendly_sam import FriendlySAM
from fgsam.optim.graphsam import GraphSAM
from fgsam.optim.gsam import GSAM
from fgsam.optim.looksam import LookSAM
from fgsam.optim.momentum_sam import MomentumSAM
from fgsam.optim.peer_ascent_sam import PeerAscentSAM
from fgsam.optim.registry import (
    ALIASES,
    OPTIMIZERS,
    PROCEDURES,
    accepted_arguments,
    canonical_name,
    create_optimizer,
    default_rho,
    get_optimizer_class,
    list_optimizers,
    optimizer_arguments,
    param_groups,
    takes_generator,
)
from fgsam.optim.rwp import RWP
from fgsam.optim.sam import SAM
from fgsam.optim.ssam import SSAMD, SSAMF
from fgsam.optim.swad import SWAD
from fgsam.optim.tilted_sam import TiltedSAM
from fgsam.optim.training_step import training_step
from fgsam.optim.vasso import VaSSO
from fgsam.optim.zo_tilted_sam import ZerothOrderTiltedSAM

__all__ = [
    "AESAM",
    "ALIASES",
    "ASAM",
    "ESAM",
    "F2M",
    "FGSAM",
    "GSAM",
    "OPTIMIZERS",
    "PROCEDURES",
    "RWP",
    "SAM",
    "SSAMD",
    "SSAMF",
    "SWAD",
    "FGSAMPlus",
    "FGSAMRho0",
    "FriendlySAM",
    "GraphSAM",
    "LookSAM",
    "MomentumSAM",
    "PeerAscentSAM",
    "SharpnessAwareOptimizer",
    "TiltedSAM",
    "VaSSO",
    "ZerothOrderTiltedSAM",
    "accepted_arguments",
    "accumulate",
    "accumulation_step",
    "canonical_name",
    "create_optimizer",
    "default_rho",
    "frozen_batchnorm_stats",
    "get_optimizer_class",
    "list_optimizers",
    "optimizer_arguments",
    "param_groups",
    "takes_generator",
    "training_step",
]
