"""FGSAM+: FGSAM every k steps, PeerMLP-only steps with reused directions in between."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.base import check_non_negative, check_positive_int
from fgsam.optim.fgsam import FGSAM, GNN_PASS, PEER_PASS, PERTURBED_PEER_PASS
from fgsam.optim.vectors import EPS, global_norm, normalized, reject, scaled
from fgsam.typing import BaseOptimizer, Closure, Params

#: The norm guard of the authors' code (ρ / (‖g‖ + 1e-8), ‖g‖ / (‖g_v‖ + 1e-8)).
AUTHORS_GUARD = 1e-8


class FGSAMPlus(FGSAM):
    r"""FGSAM+ from `"Fast Graph Sharpness-Aware Minimization for Enhancing and
    Accelerating Few-Shot Node Classification" <https://arxiv.org/abs/2410.16845>`_
    (Luo et al., NeurIPS 2024): an exact FGSAM step every ``k`` steps, and in between
    steps that run only the PeerMLP and reuse two stored directions.

    Exact step (:math:`t \bmod k = 0`, the first step included), with
    :math:`\hat g = g / (\lVert g \rVert + 10^{-12})`:

    .. math::
        g_{\mathrm{gnn}} = \nabla L(w; f_{\mathrm{gnn}}),\
        g_{\mathrm{mlp}} = \nabla L(w; f_{\mathrm{mlp}}),\
        \epsilon = \rho\, \hat g_{\mathrm{gnn}},\
        g_s = \nabla L(w + \epsilon; f_{\mathrm{mlp}}),

        g_G = g_{\mathrm{gnn}} - \langle g_{\mathrm{gnn}}, \hat g_{\mathrm{mlp}} \rangle
        \hat g_{\mathrm{mlp}},\quad
        g_v = g_s - \langle g_s, \hat g_{\mathrm{mlp}} \rangle \hat g_{\mathrm{mlp}},\quad
        w \leftarrow \mathrm{Base}(w,\ \lambda g_{\mathrm{gnn}} + g_s).

    Approximate step (otherwise; one PeerMLP forward/backward, no GNN pass):

    .. math::
        g_{\mathrm{mlp}} = \nabla L(w; f_{\mathrm{mlp}}),\quad
        \tilde g_{\mathrm{gnn}} = g_{\mathrm{mlp}}
            + \frac{\lVert g_{\mathrm{mlp}} \rVert}{\lVert g_G \rVert} g_G,

        w \leftarrow \mathrm{Base}\Big(w,\ g_{\mathrm{mlp}}
            + \alpha \frac{\lVert g_{\mathrm{mlp}} \rVert}{\lVert g_v \rVert} g_v
            + \lambda \tilde g_{\mathrm{gnn}}\Big).

    Over ``k`` steps: one GNN and ``k + 1`` PeerMLP forward/backward passes, against
    ``k`` GNN passes for the base optimizer. With ``k = 1`` every step is exact and the
    :math:`g_{\mathrm{mlp}}` pass is skipped (its directions would never be used), so
    FGSAM+ is then :class:`FGSAM`. :meth:`step` returns the GNN loss at :math:`w` on
    exact steps and **the PeerMLP loss at** :math:`w` **on approximate steps** (they run
    no GNN). Norms and inner products are global over the perturbed parameters; a
    zero :math:`g_v` or :math:`g_G` contributes nothing. :math:`g_G`, :math:`g_v` live
    in ``state[p]["g_G"]``, ``state[p]["g_v"]`` and the step counter :math:`t` in
    ``global_state["step"]`` (both in :meth:`state_dict`); a step skipped by the AMP
    scaler does not advance :math:`t`. Groups with ``perturb=False`` descend with
    :math:`\lambda g_{\mathrm{gnn}} + g_s` on exact steps and plain
    :math:`g_{\mathrm{mlp}}` on approximate ones.

    Options reproducing the authors' code (off by default): ``convex=True`` (exact-step
    :math:`d = (1-\lambda) g_{\mathrm{gnn}} + \lambda g_s`), ``per_tensor=True``
    (the projections and norm ratios taken per parameter tensor; :math:`\epsilon` stays
    global, as in their code), ``topology_term=False`` (no
    :math:`\lambda \tilde g_{\mathrm{gnn}}` in approximate steps, their default), and
    perturbing only the encoder (a ``perturb=False`` group for the rest). Their runs use
    ``rho=0.1, k=2, alpha=0.7``. ``authors_code=True`` is their update exactly: all of
    the above (``lam`` defaults to their 0.5) and two rules of their code that the paper
    does not state. On exact steps a ``perturb=False`` group descends on
    :math:`g_{\mathrm{gnn}} + \lambda g_s` (only the perturbed groups' GNN gradient gets
    the :math:`1 - \lambda`), and the stored flatness direction rejects the *mixed*
    direction, :math:`g_v = d - \langle d, \hat g_{\mathrm{mlp}} \rangle
    \hat g_{\mathrm{mlp}}` with :math:`d = (1-\lambda) g_{\mathrm{gnn}} + \lambda g_s`,
    tensor by tensor; and the norms in :math:`\epsilon` and the ratios are guarded by
    :math:`10^{-8}` (:data:`AUTHORS_GUARD`) instead of :math:`10^{-12}`.

    Practicalities: the GNN pass updates BatchNorm running statistics on exact steps,
    the PeerMLP pass on approximate steps; the other passes do not (needs ``model``).
    Under DDP every gradient that enters :math:`d` or a stored direction is
    all-reduced (the GNN pass is local only when its weight in :math:`d` is zero and
    ``sync_ascent`` is off). No manual ``first_step``/``second_step``.

    Args:
        params, base_optimizer: as in :class:`~fgsam.optim.SharpnessAwareOptimizer`.
        rho (float, optional): radius :math:`\rho`. (default: ``0.1``)
        lam (float, optional): weight :math:`\lambda \ge 0` of the GNN gradient.
            (default: ``1.0``)
        k (int, optional): interval between exact steps. (default: ``2``)
        alpha (float, optional): weight :math:`\alpha \ge 0` of the flatness direction.
            (default: ``0.7``)
        convex (bool, optional): the authors' exact-step mix. (default: ``False``)
        per_tensor (bool, optional): per-tensor projections and ratios.
            (default: ``False``)
        topology_term (bool, optional): add :math:`\lambda \tilde g_{\mathrm{gnn}}` in
            approximate steps. (default: ``True``; ``False`` with ``authors_code``)
        authors_code (bool, optional): the authors' update exactly, as above; it implies
            ``convex``, ``per_tensor`` and no topology term, and refuses other values of
            them. (default: ``False``)
        **kwargs: ``model``, ``sync_ascent``, ``max_grad_norm`` as in :class:`FGSAM`,
            and the base optimizer's arguments (``lr``, ...).

    Example:
        >>> opt = FGSAMPlus(model.parameters(), "adam", rho=0.1, k=2, alpha=0.7, lr=5e-3)
        >>> for episode in episodes:
        ...     loss = opt.step(gnn_closure, peer_closure)  # GNN run every k-th step only
    """

    name = "fgsam+"
    manual_steps = False
    hyperparameters = ("lam", "convex", "k", "alpha", "per_tensor", "topology_term",
                       "authors_code")

    def __init__(self, params: Params, base_optimizer: BaseOptimizer, rho: float = 0.1,
                 lam: float | None = None, k: int = 2, alpha: float = 0.7,
                 convex: bool | None = None, per_tensor: bool | None = None,
                 topology_term: bool | None = None, authors_code: bool = False,
                 **kwargs: Any) -> None:
        check_positive_int("k", k)
        check_non_negative("alpha", alpha)
        if not isinstance(authors_code, bool):
            raise ValueError(f"authors_code must be True or False, got {authors_code!r}")
        # None: the default, which authors_code turns into the authors' settings
        implied = {"convex": True, "per_tensor": True, "topology_term": False}
        given = {"convex": convex, "per_tensor": per_tensor, "topology_term": topology_term}
        for arg, value in given.items():
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{arg} must be True or False, got {value!r}")
            if authors_code and value is not None and value != implied[arg]:
                raise ValueError(f"authors_code=True runs the authors' update, which has "
                                 f"{arg}={implied[arg]}; got {arg}={value}: drop one of them")
        if authors_code:
            given, lam = implied, 0.5 if lam is None else lam
        super().__init__(params, base_optimizer, rho, 1.0 if lam is None else lam,
                         bool(given["convex"]), **kwargs)
        self.k = k
        self.alpha = float(alpha)
        self.per_tensor = bool(given["per_tensor"])
        self.topology_term = given["topology_term"] is not False
        self.authors_code = authors_code
        if authors_code:  # their code guards ε's and g_v's norms with 1e-8
            self.guard = AUTHORS_GUARD

    def _sync_gnn(self) -> bool:
        # g_G (from the GNN gradient) enters later steps through the topology term.
        topology = self.topology_term and self.lam != 0.0 and self.k > 1
        return super()._sync_gnn() or topology

    def is_exact_step(self) -> bool:
        """Whether the next :meth:`step` runs the GNN (also when nothing is stored yet)."""
        if self.global_state["step"] % self.k == 0:
            return True
        return not any(
            p in self.state and "g_v" in self.state[p]
            for group in self.param_groups
            if group["perturb"]
            for p in group["params"]
        )

    def run_peer_step(
        self, gnn_closure: Closure, peer_closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> Tensor:
        """One FGSAM+ step; returns the GNN loss at :math:`w` on exact steps and the
        PeerMLP loss at :math:`w` on approximate steps."""
        if self.is_exact_step():
            return self._exact_step(gnn_closure, peer_closure, scaler)
        return self._approximate_step(peer_closure, scaler)

    def _exact_step(
        self, gnn_closure: Closure, peer_closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> Tensor:
        losses = {
            GNN_PASS: self.loss_and_grad(
                gnn_closure, GNN_PASS, sync=self._sync_gnn(), scaler=scaler
            )
        }
        self.keep_gnn_grads()
        opening = self.gnn_perturbation(check_overflow=scaler is not None)
        if opening is None:
            self.skip_step(scaler)
            return losses[GNN_PASS]
        params, eps = opening
        unit = None
        if self.k > 1:
            losses[PEER_PASS] = self.loss_and_grad(
                peer_closure, PEER_PASS, perturbed=True, scaler=scaler
            )
            g_mlp = [_grad_or_zeros(p) for p in params]
            if scaler is not None and not bool(torch.isfinite(global_norm(g_mlp))):
                self.skip_step(scaler)  # an overflow: the scaler sees it in .grad
                return losses[GNN_PASS]
            unit = self._unit(g_mlp)
        self.perturb(params, eps)
        losses[PERTURBED_PEER_PASS] = self.loss_and_grad(
            peer_closure, PERTURBED_PEER_PASS, perturbed=True, scaler=scaler, unscale=False
        )
        if not self.check_finite(losses, scaler):
            self.skip_step(scaler)
            return losses[GNN_PASS]
        directions, scale = None, self.grad_scale(scaler)
        if unit is not None:
            g_gnn = [self._g_gnn.get(p, torch.zeros_like(p)) for p in params]
            g_s = [_grad_or_zeros(p) for p in params]
            if scale != 1.0:
                g_s = torch._foreach_div(g_s, scale)
            directions = (self._reject(g_gnn, unit), self._reject(g_s, unit))
        self.before_descend(scaler)
        if self.authors_code and directions is not None:  # g_v from the mixed direction
            mixed = [_grad_or_zeros(p) for p in params]
            directions = (directions[0], self._reject(
                torch._foreach_div(mixed, scale) if scale != 1.0 else mixed, unit))
        if self.descend(scaler) and directions is not None:
            for p, g_G, g_v in zip(params, *directions, strict=True):
                self.state[p]["g_G"] = g_G
                self.state[p]["g_v"] = g_v
        return losses[GNN_PASS]

    def _approximate_step(
        self, peer_closure: Closure, scaler: torch.amp.GradScaler | None
    ) -> Tensor:
        loss = self.loss_and_grad(peer_closure, PEER_PASS, scaler=scaler, unscale=False)
        if not self.check_finite({PEER_PASS: loss}, scaler):
            self.skip_step(scaler)
            return loss
        params = [p for _, ps in self.perturbed_groups() for p in ps]
        g = [p.grad for p in params]
        g_v = [self.state[p].get("g_v", torch.zeros_like(p)) for p in params]
        # d = g + α‖g‖/‖g_v‖ g_v + λ (g + ‖g‖/‖g_G‖ g_G); homogeneous in g, so an AMP scale
        # carried by g carries over to d.
        norm_g = self._norms(g)  # ‖g‖ once for both ratios
        updates = self._times_ratio(g_v, norm_g, self.alpha)
        if self.topology_term and self.lam != 0.0:
            g_G = [self.state[p].get("g_G", torch.zeros_like(p)) for p in params]
            if g:
                torch._foreach_add_(updates, self._times_ratio(g_G, norm_g, self.lam))
                torch._foreach_mul_(g, 1.0 + self.lam)
        if g:
            torch._foreach_add_(g, updates)
        self.descend(scaler)
        return loss

    def _mix(self, scale: float) -> None:
        if not self.authors_code:
            return super()._mix(scale)
        # their code scales only the perturbed groups' g_gnn by 1 - λ: the others get g_gnn + λ g_s
        perturbed = {p for group in self.param_groups if group["perturb"] for p in group["params"]}
        rest = {p: g for p, g in self._g_gnn.items() if p not in perturbed}
        self._g_gnn = {p: g for p, g in self._g_gnn.items() if p in perturbed}
        super()._mix(scale)
        for p, g in rest.items():
            p.grad = g.mul_(scale) if p.grad is None else p.grad.mul_(self.lam).add_(g, alpha=scale)
        return None

    # -------------------------------------------------------------- vector ops
    def _norms(self, xs: list[Tensor]) -> list[Tensor]:
        """Per-tensor norms (``per_tensor``) or the global norm repeated."""
        if self.per_tensor:
            return list(torch._foreach_norm(xs)) if xs else []
        norm = global_norm(xs)
        return [norm.to(x.device) for x in xs]

    def _times_ratio(self, xs: list[Tensor], num: list[Tensor], factor: float) -> list[Tensor]:
        """``x · factor n / (‖x‖ + eps)`` for each tensor of ``xs``, with ``num`` the
        :meth:`_norms` n of the numerator (global norms unless per_tensor)."""
        if not self.per_tensor:  # one ratio for all: one fused multiply
            return scaled(xs, factor * (num[0] / (global_norm(xs) + self.guard))) if xs else []
        return [x * (factor * (a / (b + self.guard)))
                for x, a, b in zip(xs, num, self._norms(xs), strict=True)]

    def _unit(self, xs: list[Tensor]) -> list[Tensor]:
        """``x / (‖x‖ + eps)``, with the global or per-tensor norm."""
        if not self.per_tensor:
            return normalized(xs)
        return [x / (n + EPS) for x, n in zip(xs, self._norms(xs), strict=True)]

    def _reject(self, xs: list[Tensor], unit: list[Tensor]) -> list[Tensor]:
        """``x - <x, u> u`` over all tensors at once, or tensor by tensor (per_tensor)."""
        if not self.per_tensor:
            return reject(xs, unit)
        return [x - torch.vdot(x.reshape(-1), u.reshape(-1)) * u for x, u in zip(xs, unit)]



def _grad_or_zeros(p: Tensor) -> Tensor:
    return p.grad if p.grad is not None else torch.zeros_like(p)


__all__ = ["AUTHORS_GUARD", "FGSAMPlus"]
