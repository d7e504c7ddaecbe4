"""The saved copy of the weights a perturbation is applied to and restored from."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam.optim.step_guard import no_grad
from fgsam.optim.vectors import EPS, global_norm, scaled


class WeightBackup:
    """Saving, perturbing and restoring the weights bit for bit (a mixin of
    :class:`~fgsam.optim.SharpnessAwareOptimizer`)."""

    _backup: dict[Tensor, Tensor]
    _perturbed: list[Tensor]
    _ascents: int

    @no_grad
    def save_weights(self, params: list[Tensor]) -> None:
        """Copy ``params`` aside; :meth:`restore_weights` copies them back bit for bit."""
        backups = []
        for p in params:
            b = self._backup.get(p)
            if b is None or b.shape != p.shape or b.dtype != p.dtype or b.device != p.device:
                b = self._backup[p] = torch.empty_like(p, memory_format=torch.preserve_format)
            backups.append(b)
        if params:
            torch._foreach_copy_(backups, params)
        self._perturbed = list(params)

    @no_grad
    def restore_weights(self) -> None:
        """Copy the saved weights back (exact; never subtracts the perturbation).

        This also ends a manual step begun with :meth:`first_step` without stepping:
        call it to discard one.
        """
        if self._perturbed:
            torch._foreach_copy_(self._perturbed, [self._backup[p] for p in self._perturbed])
        self._perturbed = []
        self._ascents = 0

    @property
    def is_perturbed(self) -> bool:
        """Whether the weights are currently moved away from the saved ones."""
        return bool(self._perturbed)

    def saved_weight(self, p: Tensor) -> Tensor:
        """The unperturbed value of ``p`` while a perturbation is applied."""
        return self._backup[p] if self._perturbed else p

    @staticmethod
    def group_scaled(
        groups: list[tuple[dict[str, Any], list[Tensor]]],
        tensors: list[Tensor],
        coeff: Tensor,
        divisor: float = 1.0,
    ) -> list[Tensor]:
        """``tensors`` (one per parameter of ``groups``, in order) times ``coeff ·
        (rho / divisor)``, with each group's own ``rho``."""
        out: list[Tensor] = []
        start = 0
        for group, ps in groups:
            out += scaled(tensors[start : start + len(ps)], coeff * (group["rho"] / divisor))
            start += len(ps)
        return out

    @no_grad
    def perturb_along(
        self,
        groups: list[tuple[dict[str, Any], list[Tensor]]],
        directions: list[Tensor],
        norm: Tensor | None = None,
        divisor: float = 1.0,
    ) -> None:
        r"""Perturb by :math:`\epsilon = \rho\, d / (\lVert d \rVert + 10^{-12})`, each
        group with its own ``rho / divisor``; ``directions`` holds one tensor per parameter
        of ``groups`` and ``norm`` is :math:`\lVert d \rVert` when already known."""
        norm = global_norm(directions) if norm is None else norm
        params = [p for _, ps in groups for p in ps]
        self.perturb(params, self.group_scaled(groups, directions, 1.0 / (norm + EPS), divisor))

    @no_grad
    def perturb(self, params: list[Tensor], eps: list[Tensor]) -> None:
        """Save ``params`` (if not already moved) and add ``eps`` to them."""
        if not self._perturbed:
            self.save_weights(params)
        if params:
            torch._foreach_add_(params, eps)


__all__ = ["WeightBackup"]
