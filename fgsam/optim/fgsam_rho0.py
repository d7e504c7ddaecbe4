"""FGSAM at radius 0: the GNN and its PeerMLP trained jointly, with no perturbation."""

from __future__ import annotations

from typing import Any

from fgsam.optim.fgsam import FGSAM
from fgsam.typing import BaseOptimizer, Params


class FGSAMRho0(FGSAM):
    r"""FGSAM from `"Fast Graph Sharpness-Aware Minimization for Enhancing and Accelerating
    Few-Shot Node Classification" <https://arxiv.org/abs/2410.16845>`_ (Luo et al., NeurIPS
    2024) with :math:`\rho = 0`:
    the control that separates what FGSAM's perturbation adds from what training the GNN
    and its weight-shared PeerMLP together adds.

    .. math::
        w \leftarrow \mathrm{Base}\big(w,\ \lambda \nabla L(w; f_{\mathrm{gnn}})
            + \nabla L(w; f_{\mathrm{mlp}})\big).

    The cost is FGSAM's: one GNN and one PeerMLP forward/backward. The radius is part of
    the definition, so a run's ``rho`` (``--rho``) does not reach it (:attr:`fixed_rho`);
    ``lam`` and ``convex`` are FGSAM's.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        lam (float, optional): weight :math:`\lambda \ge 0` of the GNN gradient.
            (default: ``1.0``)
        convex (bool, optional): FGSAM's authors'-code mix. (default: ``False``)
        **kwargs: ``model``, ``sync_ascent``, ``max_grad_norm`` and the base optimizer's
            arguments (``lr``, ...).

    Example:
        >>> opt = FGSAMRho0(model.parameters(), "adam", lr=5e-3)
        >>> loss = opt.step(gnn_closure, peer_closure)
    """

    name = "fgsam-rho0"
    fixed_rho = 0.0

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.0,
                 lam: float = 1.0, convex: bool = False, **kwargs: Any) -> None:
        if rho != 0.0:
            raise ValueError(f"fgsam-rho0 has rho=0 by definition, got rho={rho}; use fgsam "
                             f"for a radius")
        super().__init__(params, base_optimizer, 0.0, lam, convex, **kwargs)


__all__ = ["FGSAMRho0"]
