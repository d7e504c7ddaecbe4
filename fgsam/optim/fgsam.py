"""FGSAM: the ascent through the GNN, the descent through its weight-shared PeerMLP."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import SharpnessAwareOptimizer, check_non_negative, check_range, guarded_step
from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import EPS
from fgsam.typing import BaseOptimizer, Closure, Params

#: Names of the loss passes, used in error messages.
GNN_PASS, PEER_PASS, PERTURBED_PEER_PASS = "GNN", "PeerMLP", "PeerMLP at w+eps"


def renamed_closure(
    opt: object, value: Closure | None, renamed: dict[str, Closure], old: str, new: str
) -> Closure | None:
    """``value``, or the closure passed under the deprecated keyword ``old`` (popped)."""
    if old not in renamed:
        return value
    warnings.warn(f"{type(opt).__name__}.step({old}=...) is deprecated; use {new}=",
                  DeprecationWarning, stacklevel=6)
    if value is not None:
        raise TypeError(f"{type(opt).__name__}.step() got both {new} and {old}")
    return renamed.pop(old)


class FGSAM(SharpnessAwareOptimizer):
    r"""Fast Graph Sharpness-Aware Minimization from `"Fast Graph Sharpness-Aware
    Minimization for Enhancing and Accelerating Few-Shot Node Classification"
    <https://arxiv.org/abs/2410.16845>`_ (Luo et al., NeurIPS 2024).

    The perturbation comes from the GNN, the gradient at the perturbed point from the
    GNN's PeerMLP (the same weights with message passing removed, see
    :func:`fgsam.nn.peer_forward`), and the GNN gradient is reused in the descent:

    .. math::
        g_{\mathrm{gnn}} = \nabla L(w; f_{\mathrm{gnn}}), \quad
        \epsilon = \rho\, \frac{g_{\mathrm{gnn}}}{\lVert g_{\mathrm{gnn}} \rVert + 10^{-12}},
        \quad g_s = \nabla L(w + \epsilon; f_{\mathrm{mlp}}), \quad
        w \leftarrow \mathrm{Base}(w,\ \lambda g_{\mathrm{gnn}} + g_s).

    One GNN forward/backward plus one PeerMLP forward/backward per step, against two
    GNN passes for :class:`~fgsam.optim.SAM`. The norm is global over all perturbed
    parameters. ``step`` takes two closures and returns the GNN loss at :math:`w`.

    Options reproducing the authors' code (off by default): ``convex=True`` reads
    ``lam`` as their :math:`\lambda'` with
    :math:`d = (1 - \lambda') g_{\mathrm{gnn}} + \lambda' g_s` (their runs use
    :math:`\lambda' = 0.5`, the paper's :math:`\lambda = 1` up to a factor
    :math:`\tfrac12`). To perturb only some parameters (their FGSAM+ runs perturb only
    the encoder), give the others a group with ``perturb=False``
    (``[{"params": enc}, {"params": head, "perturb": False}]``); such groups are updated
    with :math:`d` but never perturbed. Their FGSAM normalises :math:`\epsilon`
    globally, as here. Their FGSAM also back-propagates part of the GNN loss through a
    graph whose saved weights had already been moved to :math:`w + \epsilon` in place, so
    part of their :math:`g_{\mathrm{gnn}}` is taken at the perturbed point; that is a
    defect, not a rule, and it is not copied: here all of :math:`g_{\mathrm{gnn}}` is
    taken at :math:`w`.

    Practicalities: the PeerMLP pass at :math:`w + \epsilon` is the perturbed pass, so
    with ``model`` given it does not update BatchNorm running statistics. Under
    :class:`~torch.nn.parallel.DistributedDataParallel` the GNN gradient enters
    :math:`d`, so the GNN pass is synchronised whenever its weight in :math:`d` is not
    zero (``lam > 0``, or ``lam < 1`` with ``convex``); with weight zero it stays local
    (m-sharpness) unless ``sync_ascent``. AMP (``scaler=``), ``max_grad_norm`` and
    non-finite losses follow :class:`~fgsam.optim.SharpnessAwareOptimizer`.

    Manual control: :meth:`first_step` builds :math:`\epsilon` from the GNN gradients in
    ``.grad`` and keeps a copy of them; zero the gradients (``first_step(zero_grad=True)``),
    back-propagate the PeerMLP loss at :math:`w + \epsilon`, then :meth:`second_step`
    adds :math:`\lambda g_{\mathrm{gnn}}` and steps.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.05``)
        lam (float, optional): weight :math:`\lambda \ge 0` of the reused GNN gradient.
            (default: ``1.0``)
        convex (bool, optional): the authors' code convention
            :math:`d = (1 - \lambda) g_{\mathrm{gnn}} + \lambda g_s`,
            :math:`\lambda \in [0, 1]`. (default: ``False``)
        **kwargs: ``model``, ``sync_ascent`` and ``max_grad_norm`` of
            :class:`~fgsam.optim.SharpnessAwareOptimizer`, and the base optimizer's
            arguments (``lr``, ``weight_decay``, ...). ``sync_ascent`` here: all-reduce the
            GNN gradient under DDP even when it does not enter :math:`d`.

    Example:
        >>> from fgsam.nn import peer_forward
        >>> opt = FGSAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=5e-3)
        >>> nodes = episode.nodes
        >>> def gnn_closure():
        ...     return F.cross_entropy(model(data.x, data.edge_index)[nodes], y)
        >>> def peer_closure():
        ...     return F.cross_entropy(peer_forward(model, data.x, nodes), y)
        >>> loss = opt.step(gnn_closure, peer_closure)
    """

    name = "fgsam"
    num_closures = 2
    step_buffers = ("_g_gnn",)
    hyperparameters: tuple[str, ...] = ("lam", "convex")
    #: The guard added to a norm before dividing by it.
    guard: float = EPS

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.05,
                 lam: float = 1.0, convex: bool = False, **kwargs: Any) -> None:
        if not isinstance(convex, bool):
            raise ValueError(f"convex must be True or False, got {convex!r}")
        if convex:
            check_range("lam", lam, 0.0, 1.0)
        else:
            check_non_negative("lam", lam)
        super().__init__(params, base_optimizer, rho, **kwargs)
        self.lam = float(lam)
        self.convex = convex
        self._g_gnn: dict[Tensor, Tensor] = {}

    # ------------------------------------------------------------ coefficients
    @property
    def gnn_weight(self) -> float:
        """Coefficient of the reused GNN gradient in the descent direction."""
        return 1.0 - self.lam if self.convex else self.lam

    @property
    def peer_weight(self) -> float:
        """Coefficient of the perturbed PeerMLP gradient in the descent direction."""
        return self.lam if self.convex else 1.0

    def _sync_gnn(self) -> bool:
        # Under DDP a gradient that enters d must be the all-reduced one.
        return self.sync_ascent or self.gnn_weight != 0.0

    # -------------------------------------------------------------------- step
    @no_grad
    @guarded_step
    def step(  # type: ignore[override]
        self,
        closure: Closure | None = None,
        peer_closure: Closure | None = None,
        scaler: torch.amp.GradScaler | None = None,
        **renamed: Closure,
    ) -> Tensor:
        """One FGSAM step; returns the GNN loss at the unperturbed weights.

        Args:
            closure (callable): the loss through the GNN (no ``backward``).
            peer_closure (callable): the same loss through the PeerMLP view.
            scaler (torch.amp.GradScaler, optional): for mixed precision.

        ``gnn_closure=`` and ``mlp_closure=``, the keywords of earlier releases, still
        work (deprecated). The keywords are those of ``torch.optim``, so that wrappers
        calling ``step(closure=...)`` (PyTorch Lightning's manual optimisation) pass the
        GNN closure where it belongs.
        """
        closure = renamed_closure(self, closure, renamed, "gnn_closure", "closure")
        peer_closure = renamed_closure(self, peer_closure, renamed, "mlp_closure", "peer_closure")
        if renamed:
            raise TypeError(f"{type(self).__name__}.step() got an unexpected keyword argument "
                            f"{next(iter(renamed))!r}")
        closure = self._require_closure(closure, "closure (the GNN loss)")
        peer_closure = self._require_closure(peer_closure, "peer_closure (the PeerMLP loss)")
        return self.run_peer_step(closure, peer_closure, scaler)

    def run_peer_step(
        self, gnn_closure: Closure, peer_closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> Tensor:
        """The passes of one :meth:`step` (inside its guard, with checked closures); the
        FGSAM variants override this, not :meth:`step`."""
        losses = {
            GNN_PASS: self.loss_and_grad(
                gnn_closure, GNN_PASS, sync=self._sync_gnn(), scaler=scaler
            )
        }
        if not self.ascend(check_overflow=scaler is not None):
            self.skip_step(scaler)
        else:
            self.descent_pass(peer_closure, losses, scaler, PERTURBED_PEER_PASS)
        return losses[GNN_PASS]

    @no_grad
    def ascend(self, check_overflow: bool = False) -> bool:
        """Keep a copy of the GNN gradients in ``.grad`` and move to :math:`w + \\epsilon`.

        Returns ``False`` (nothing moved) if ``check_overflow`` and the gradient is not
        finite.
        """
        self.keep_gnn_grads()
        opening = self.gnn_perturbation(check_overflow)
        if opening is None:
            return False
        self.perturb(*opening)
        return True

    def keep_gnn_grads(self) -> None:
        """Copy the gradients in ``.grad`` aside as :math:`g_{\\mathrm{gnn}}`."""
        params = self.params_with_grad()
        # A copy, not a reference: DDP may reuse gradient buckets in place.
        copies = torch._foreach_mul([p.grad for p in params], 1.0) if params else []
        self._g_gnn = dict(zip(params, copies, strict=True))

    def gnn_perturbation(self, check_overflow: bool) -> tuple[list[Tensor], list[Tensor]] | None:
        """``(params, ε)`` with :math:`\\epsilon = \\rho\\, g / (\\lVert g \\rVert + \\delta)`
        (:math:`\\delta` the :attr:`guard`) from ``.grad`` (``None`` if ``check_overflow``
        and the gradient is not finite)."""
        opening = self.ascent_gradients(check_overflow)
        if opening is None:
            return None
        groups, params, norm = opening
        return params, self.group_scaled(groups, [p.grad for p in params],
                                         1.0 / (norm + self.guard))

    @no_grad
    def before_descend(self, scaler: torch.amp.GradScaler | None) -> None:
        """Turn ``.grad`` (:math:`g_s`, still carrying the scaler's factor) into the descent
        direction :math:`\\lambda g_{\\mathrm{gnn}} + g_s` (or the ``convex`` mix); also the
        hook of :meth:`second_step`, after the base class's :meth:`first_step`."""
        self._mix(self.grad_scale(scaler))

    def mix(self, scale: float = 1.0) -> None:
        """Deprecated name of :meth:`before_descend` (``scale``: the scaler's factor)."""
        warnings.warn("FGSAM.mix is deprecated; use before_descend", DeprecationWarning, 2)
        self._mix(scale)

    def _mix(self, scale: float) -> None:
        a, b = self.gnn_weight, self.peer_weight
        present, added = [], []
        for p, g in self._g_gnn.items():
            if p.grad is None:  # the PeerMLP pass did not reach p
                if a != 0.0:
                    p.grad = g.mul_(a * scale)
            else:
                present.append(p.grad)
                added.append(g)
        if present and b != 1.0:
            torch._foreach_mul_(present, b)
        if present and a != 0.0:
            torch._foreach_add_(present, added, alpha=a * scale)
        self._g_gnn = {}




__all__ = ["FGSAM"]
