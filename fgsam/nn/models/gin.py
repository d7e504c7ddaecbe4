"""The GIN baseline for molecules (OGB's reference model with bond features)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool


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

    With ``virtual_node`` (OGB's "GIN-virtual", after `Gilmer et al., "Neural Message
    Passing for Quantum Chemistry" <https://arxiv.org/abs/1704.01212>`_), a node linked to
    every atom of its molecule carries a state :math:`v` (0 at the start): before layer
    :math:`l` every atom adds it, :math:`h_i \leftarrow h_i + v`, and between layers it is
    updated from the layer's input, :math:`v \leftarrow \mathrm{Dropout}(\mathrm{MLP}_l(
    v + \sum_i h_i))`, with :math:`\mathrm{MLP}_l` Linear-BN-ReLU-Linear-BN-ReLU (width
    :math:`2d`).

    Args:
        num_tasks (int): outputs per molecule.
        hidden (int, optional): width. (default: ``300``)
        layers (int, optional): GIN layers. (default: ``5``)
        dropout (float, optional): dropout rate. (default: ``0.5``)
        virtual_node (bool, optional): add the virtual node. (default: ``False``)

    Example:
        >>> model = MolGIN(num_tasks=1)
        >>> logits = model(batch)
    """

    def __init__(self, num_tasks: int, hidden: int = 300, layers: int = 5,
                 dropout: float = 0.5, virtual_node: bool = False) -> None:
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
        self.virtual_node = bool(virtual_node)
        if self.virtual_node:
            self.virtual = torch.nn.Embedding(1, hidden)
            torch.nn.init.zeros_(self.virtual.weight)  # as OGB: the state starts at 0
            self.virtual_mlps = torch.nn.ModuleList(
                torch.nn.Sequential(
                    torch.nn.Linear(hidden, 2 * hidden), torch.nn.BatchNorm1d(2 * hidden),
                    torch.nn.ReLU(), torch.nn.Linear(2 * hidden, hidden),
                    torch.nn.BatchNorm1d(hidden), torch.nn.ReLU())
                for _ in range(layers - 1))

    def forward(self, data: Data) -> Tensor:
        """``[num_graphs, num_tasks]`` predictions (logits for classification)."""
        batch = getattr(data, "batch", None)
        num_graphs = int(getattr(data, "num_graphs", 1)) if batch is not None else 1
        h = self.atom_encoder(data.x)
        last = len(self.convs) - 1
        index = batch if batch is not None else h.new_zeros(h.size(0), dtype=torch.long)
        v = self.virtual.weight.expand(num_graphs, -1) if self.virtual_node else None
        for i, (conv, bond, norm) in enumerate(zip(self.convs, self.bond_encoders, self.norms)):
            h_in = h if v is None else h + v[index]
            h = norm(conv(h_in, data.edge_index, bond(data.edge_attr)))
            if i < last:
                h = torch.relu(h)
            h = torch.nn.functional.dropout(h, self.dropout, self.training)
            if v is not None and i < last:
                pooled = global_add_pool(h_in, index, size=num_graphs)
                v = torch.nn.functional.dropout(self.virtual_mlps[i](pooled + v), self.dropout,
                                                self.training)
        return self.head(global_mean_pool(h, batch, size=num_graphs))

    def extra_repr(self) -> str:
        return (f"num_tasks={self.num_tasks}, hidden={self.hidden}, layers={len(self.convs)}"
                f"{', virtual_node=True' if self.virtual_node else ''}")


class MolGINVirtual(MolGIN):
    """:class:`MolGIN` with the virtual node: OGB's GIN-virtual (the ``ogbg-molhiv``
    leaderboard baseline at the defaults: 5 layers, hidden 300, dropout 0.5).

    Example:
        >>> model = MolGINVirtual(num_tasks=1)
    """

    def __init__(self, num_tasks: int, hidden: int = 300, layers: int = 5,
                 dropout: float = 0.5) -> None:
        super().__init__(num_tasks, hidden, layers, dropout, virtual_node=True)


__all__ = ["MolGIN", "MolGINVirtual"]
