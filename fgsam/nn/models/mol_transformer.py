"""A molecular graph transformer on sparse attention (bonded neighbours, bond-feature bias)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import global_mean_pool

from fgsam.nn.models.attention_edges import NON_BONDED, attention_edges
from fgsam.nn.models.sparse_attention import SparseAttention


class MolTransformerLayer(torch.nn.Module):
    r"""One pre-norm transformer block over the atom pairs of :func:`attention_edges`.

    .. math::
        h \leftarrow h + \mathrm{Drop}(\mathrm{Attn}(\mathrm{LN}(h), b)), \qquad
        h \leftarrow h + \mathrm{Drop}(\mathrm{FFN}(\mathrm{LN}(h))),

    with the per-head score bias :math:`b` looked up from the bond features (OGB's
    ``BondEncoder`` with one output per head), one learnt bias for self-loops and one for
    non-bonded pairs (full attention only).

    Args:
        channels (int): width :math:`C`.
        heads (int): attention heads.
        dropout (float): dropout on attention weights, residual branches and FFN.
        full_attention (bool): whether non-bonded pairs occur (adds their bias).
    """

    def __init__(self, channels: int, heads: int, dropout: float, full_attention: bool) -> None:
        super().__init__()
        from ogb.graphproppred.mol_encoder import BondEncoder

        self.norm1 = torch.nn.LayerNorm(channels)
        self.attn = SparseAttention(channels, heads, dropout)
        self.bond_bias = BondEncoder(heads)
        self.self_bias = torch.nn.Parameter(torch.zeros(heads))
        # Only created when used: DDP requires every parameter to receive a gradient.
        self.non_bonded_bias = torch.nn.Parameter(torch.zeros(heads)) if full_attention else None
        self.norm2 = torch.nn.LayerNorm(channels)
        self.ffn = torch.nn.Sequential(
            torch.nn.Linear(channels, 2 * channels),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(2 * channels, channels),
        )
        self.dropout = torch.nn.Dropout(dropout)

    def pair_bias(self, kind: Tensor, edge_attr: Tensor) -> Tensor:
        """``[P, H]`` score bias of every attention pair from its ``kind`` code."""
        bias = self.self_bias.expand(kind.numel(), -1)
        if edge_attr.size(0) > 0:
            bond = self.bond_bias(edge_attr).index_select(0, kind.clamp(min=0))
            bias = torch.where((kind >= 0).unsqueeze(-1), bond, bias)
        if self.non_bonded_bias is not None:
            other = (kind == NON_BONDED).unsqueeze(-1)
            bias = torch.where(other, self.non_bonded_bias.expand_as(bias), bias)
        return bias

    def forward(self, h: Tensor, pairs: Tensor, kind: Tensor, edge_attr: Tensor) -> Tensor:
        bias = self.pair_bias(kind, edge_attr)
        h = h + self.dropout(self.attn(self.norm1(h), pairs, bias))
        return h + self.dropout(self.ffn(self.norm2(h)))


class MolTransformer(torch.nn.Module):
    r"""A graph transformer for molecular property prediction with sparse attention, the
    model family GraphSAM trains in `"Efficient Sharpness-Aware Minimization for
    Molecular Graph Transformer Models" <https://openreview.net/forum?id=Od39h4XQ3Y>`_
    (Wang et al., ICLR 2024).

    Atoms and bonds are embedded with OGB's ``AtomEncoder``/``BondEncoder``; each of the
    ``layers`` blocks (:class:`MolTransformerLayer`) runs multi-head attention in which
    every atom attends to itself and its bonded neighbours with a bond-feature bias

    .. math::
        \alpha^h_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i) \cup \{i\}}
        \Big(\frac{\langle q^h_i, k^h_j\rangle}{\sqrt{d}} + b^h(e_{ij})\Big),

    (a softmax over each atom's incoming edges, :func:`torch_geometric.utils.softmax`),
    followed by a feed-forward block, both with residuals and LayerNorm; a mean readout
    and an MLP give one output per task. ``full_attention`` lets every atom of molecules
    with at most ``max_full_nodes`` atoms attend to all atoms of its molecule (a learnt
    bias marks non-bonded pairs). Runs wherever its parameters are (CPU or CUDA).

    Args:
        num_tasks (int): outputs per molecule.
        hidden (int, optional): width :math:`C`. (default: ``128``)
        layers (int, optional): transformer blocks. (default: ``4``)
        heads (int, optional): attention heads (divides ``hidden``). (default: ``8``)
        dropout (float, optional): dropout rate. (default: ``0.1``)
        full_attention (bool, optional): all-pairs attention in small molecules.
            (default: ``False``)
        max_full_nodes (int, optional): largest molecule given full attention.
            (default: ``64``)

    Example:
        >>> model = MolTransformer(num_tasks=1, hidden=64, layers=3, heads=4)
        >>> logits = model(batch)  # a torch_geometric Batch of smiles2graph molecules
    """

    def __init__(
        self,
        num_tasks: int,
        hidden: int = 128,
        layers: int = 4,
        heads: int = 8,
        dropout: float = 0.1,
        full_attention: bool = False,
        max_full_nodes: int = 64,
    ) -> None:
        super().__init__()
        from ogb.graphproppred.mol_encoder import AtomEncoder

        _check_positive(num_tasks=num_tasks, hidden=hidden, layers=layers, heads=heads,
                        max_full_nodes=max_full_nodes)
        if hidden % heads:
            raise ValueError(f"hidden must be a multiple of heads, got hidden={hidden}, "
                             f"heads={heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_tasks, self.hidden, self.heads = num_tasks, hidden, heads
        self.full_attention, self.max_full_nodes = bool(full_attention), max_full_nodes
        self.atom_encoder = AtomEncoder(hidden)
        self.layers = torch.nn.ModuleList(
            MolTransformerLayer(hidden, heads, dropout, self.full_attention)
            for _ in range(layers)
        )
        self.norm = torch.nn.LayerNorm(hidden)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(hidden, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, num_tasks),
        )

    def forward(self, data: Data) -> Tensor:
        """``[num_graphs, num_tasks]`` predictions (logits for classification)."""
        batch = getattr(data, "batch", None)
        num_graphs = int(getattr(data, "num_graphs", 1)) if batch is not None else 1
        pairs, kind = attention_edges(
            data.edge_index, data.num_nodes, batch, num_graphs,
            full=self.full_attention, max_full_nodes=self.max_full_nodes,
        )
        h = self.atom_encoder(data.x)
        for layer in self.layers:
            h = layer(h, pairs, kind, data.edge_attr)
        h = global_mean_pool(self.norm(h), batch, size=num_graphs)
        return self.head(h)

    def extra_repr(self) -> str:
        return (f"num_tasks={self.num_tasks}, hidden={self.hidden}, layers={len(self.layers)}, "
                f"heads={self.heads}, full_attention={self.full_attention}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


__all__ = ["MolTransformer", "MolTransformerLayer"]
