"""Sharpness diagnostics for any model and loss: Hessian eigenvalues and trace,
ρ-sharpness (worst-case and average-case) and loss landscapes, with PNG plots."""

from fgsam.sharpness.checkpoint_loss import CheckpointLoss, checkpoint_loss
from fgsam.sharpness.directions import filter_normalized_direction
from fgsam.sharpness.eigenvalues import hessian_eigenvalues
from fgsam.sharpness.estimate import Estimate
from fgsam.sharpness.hessian import HessianOperator
from fgsam.sharpness.landscape import Landscape, loss_landscape
from fgsam.sharpness.plot import plot_landscape, plot_spectrum
from fgsam.sharpness.rho_sharpness import rho_sharpness
from fgsam.sharpness.trace import hessian_trace

__all__ = [
    "CheckpointLoss",
    "Estimate",
    "HessianOperator",
    "Landscape",
    "checkpoint_loss",
    "filter_normalized_direction",
    "hessian_eigenvalues",
    "hessian_trace",
    "loss_landscape",
    "plot_landscape",
    "plot_spectrum",
    "rho_sharpness",
]
