"""The GIN baseline for molecules (OGB's reference model with bond features)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GINEConv, global_mean_pool


class MolGIN(torch.nn.Module):
    r"""Graph Isomorphism Network with edge features from `"How Powerful are Graph Neural
    Networks?" <https://arxiv.org/abs/1810.00826>`_ (Xu et al., ICLR 2019), in the form
    OGB uses for ``ogbg-mol*`` (`Hu et al., "Strategies for Pre-training Graph Neural
    Networks" <https://arxiv.org/abs/1905.12265>`_):

    .. math::
        h_i \leftarrow \mathrm{MLP}\Big((1 + \epsilon)\, h_i
        + \sum_{j \in \mathcal{N}(i)} \mathrm{ReLU}(h_j + e_{ji})\Big),

    followed by BatchNorm, ReLU (not after the last layer) and dropout; atoms and bonds
    embedded with OGB's ``AtomEncoder``/``BondEncoder`` (one bond encoder per layer);
    mean readout and a linear head.

    Args:
        num_tasks (int): outputs per molecule.
        hidden (int, optional): width. (default: ``300``)
        layers (int, optional): GIN layers. (default: ``5``)
        dropout (float, optional): dropout rate. (default: ``0.5``)

    Example:
        >>> model = MolGIN(num_tasks=1)
        >>> logits = model(batch)
    """

    def __init__(self, num_tasks: int, hidden: int = 300, layers: int = 5,
                 dropout: float = 0.5) -> None:
        super().__init__()
        from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

        for name, value in (("num_tasks", num_tasks), ("hidden", hidden), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_tasks, self.hidden, self.dropout = num_tasks, hidden, dropout
        self.atom_encoder = AtomEncoder(hidden)
        self.bond_encoders = torch.nn.ModuleList(BondEncoder(hidden) for _ in range(layers))
        self.convs = torch.nn.ModuleList(
            GINEConv(
                torch.nn.Sequential(
                    torch.nn.Linear(hidden, 2 * hidden),
                    torch.nn.BatchNorm1d(2 * hidden),
                    torch.nn.ReLU(),
                    torch.nn.Linear(2 * hidden, hidden),
                ),
                train_eps=True,
            )
            for _ in range(layers)
        )
        self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden) for _ in range(layers))
        self.head = torch.nn.Linear(hidden, num_tasks)

    def forward(self, data: Data) -> Tensor:
        """``[num_graphs, num_tasks]`` predictions (logits for classification)."""
        batch = getattr(data, "batch", None)
        num_graphs = int(getattr(data, "num_graphs", 1)) if batch is not None else 1
        h = self.atom_encoder(data.x)
        last = len(self.convs) - 1
        for i, (conv, bond, norm) in enumerate(zip(self.convs, self.bond_encoders, self.norms)):
            h = norm(conv(h, data.edge_index, bond(data.edge_attr)))
            if i < last:
                h = torch.relu(h)
            h = torch.nn.functional.dropout(h, self.dropout, self.training)
        return self.head(global_mean_pool(h, batch, size=num_graphs))

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, hidden={self.hidden}, layers={len(self.convs)}"


__all__ = ["MolGIN"]
