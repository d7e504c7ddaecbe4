"""SAM whose perturbation comes from the PeerMLP: the other half of FGSAM's ablation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.fgsam import FGSAM, PEER_PASS
from fgsam.typing import BaseOptimizer, Closure, Params

#: The descent pass's name in error messages.
PERTURBED_GNN_PASS = "GNN at w+eps"


class PeerAscentSAM(FGSAM):
    r"""SAM from `"Sharpness-Aware Minimization for Efficiently Improving Generalization"
    <https://arxiv.org/abs/2010.01412>`_ (Foret et al., ICLR 2021) with the ascent through
    the GNN's weight-shared PeerMLP (`Luo et al., NeurIPS 2024
    <https://arxiv.org/abs/2410.16845>`_) and the descent through the GNN: FGSAM's roles
    swapped, the control for where the perturbation direction may come from.

    .. math::
        g_{\mathrm{mlp}} = \nabla L(w; f_{\mathrm{mlp}}),\quad
        \epsilon = \rho\, \frac{g_{\mathrm{mlp}}}{\lVert g_{\mathrm{mlp}} \rVert + 10^{-12}},\quad
        w \leftarrow \mathrm{Base}\big(w,\ \nabla L(w + \epsilon; f_{\mathrm{gnn}})\big).

    One PeerMLP and one GNN forward/backward per step (SAM: two GNN passes). :meth:`step`
    takes FGSAM's two closures and returns **the PeerMLP loss at** :math:`w`. With
    ``model`` given, the PeerMLP pass at :math:`w` updates BatchNorm running statistics and
    the perturbed GNN pass does not.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        **kwargs: ``model``, ``sync_ascent``, ``max_grad_norm`` and the base optimizer's
            arguments (``lr``, ...).

    Example:
        >>> opt = PeerAscentSAM(model.parameters(), "adam", rho=0.05, lr=5e-3)
        >>> loss = opt.step(gnn_closure, peer_closure)  # the PeerMLP loss at w
    """

    name = "sam-peer-ascent"
    manual_steps = False
    hyperparameters = ()

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 **kwargs: Any) -> None:
        super().__init__(params, base_optimizer, rho, 0.0, **kwargs)

    def run_peer_step(
        self, gnn_closure: Closure, peer_closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> Tensor:
        """The PeerMLP pass at :math:`w`, the move to :math:`w + \\epsilon`, the GNN pass
        there and the descent on its gradient alone; returns the PeerMLP loss."""
        losses = {PEER_PASS: self.loss_and_grad(peer_closure, PEER_PASS, sync=self.sync_ascent,
                                                scaler=scaler)}
        opening = self.gnn_perturbation(check_overflow=scaler is not None)
        if opening is None:
            self.skip_step(scaler)
            return losses[PEER_PASS]
        self.perturb(*opening)
        self.descent_pass(gnn_closure, losses, scaler, PERTURBED_GNN_PASS)
        return losses[PEER_PASS]


__all__ = ["PERTURBED_GNN_PASS", "PeerAscentSAM"]
