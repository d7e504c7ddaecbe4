"""One few-shot task: its classes, support and query nodes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Episode:
    """An N-way K-shot task on one graph.

    Nodes are global node ids of the graph; labels are remapped to ``0..N-1`` in the
    order of :attr:`classes`. Support and query are class-major: the ``K`` (resp.
    ``Q``) nodes of class 0 first, then class 1, and so on.

    Args:
        classes (torch.Tensor): the episode's original class ids, ``[N]``.
        support (torch.Tensor): support node ids, ``[N * K]``.
        query (torch.Tensor): query node ids, ``[N * Q]``.
        support_y (torch.Tensor): support labels in ``0..N-1``, ``[N * K]``.
        query_y (torch.Tensor): query labels in ``0..N-1``, ``[N * Q]``.
    """

    classes: Tensor
    support: Tensor
    query: Tensor
    support_y: Tensor
    query_y: Tensor

    @property
    def n_way(self) -> int:
        return int(self.classes.numel())

    @property
    def k_shot(self) -> int:
        return int(self.support.numel()) // max(self.n_way, 1)

    @property
    def q_query(self) -> int:
        return int(self.query.numel()) // max(self.n_way, 1)

    @property
    def nodes(self) -> Tensor:
        """Support then query node ids: the only rows a PeerMLP pass needs."""
        return torch.cat([self.support, self.query])

    def to(self, device: torch.device | str) -> Episode:
        """The same episode with every tensor on ``device``."""
        return Episode(*(t.to(device) for t in (self.classes, self.support, self.query,
                                                self.support_y, self.query_y)))

    def __repr__(self) -> str:
        return (f"Episode({self.n_way}-way {self.k_shot}-shot {self.q_query}-query, "
                f"classes={self.classes.tolist()})")


__all__ = ["Episode"]
