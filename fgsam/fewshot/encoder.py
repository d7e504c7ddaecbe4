"""The GCN encoder the few-shot methods share, with reproducible dropout and initialisation."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_remaining_self_loops, degree, is_torch_sparse_tensor

from fgsam.nn.peer_layers import self_loop_output
from fgsam.nn.sparse_linear import SparseInputLinear, csr_matmul


class SeededDropout(nn.Module):
    """Dropout whose masks come from its own :class:`torch.Generator` (one per device),
    so that training is reproducible without touching the global RNG.

    Args:
        p (float, optional): drop probability in ``[0, 1)``. (default: ``0.0``)
        seed (int, optional): seed of the mask generator. (default: ``0``)
    """

    def __init__(self, p: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = int(seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def reseed(self, seed: int) -> None:
        """Restart the mask stream from ``seed`` on every device."""
        self.seed = int(seed)
        self._generators = {}

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        gen = self._generators.get(x.device)
        if gen is None:
            gen = torch.Generator(device=x.device).manual_seed(self.seed)
            self._generators[x.device] = gen
        keep = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, seed={self.seed}"


class GCNEncoder(nn.Module):
    r"""A stack of PyG :class:`~torch_geometric.nn.conv.GCNConv` layers from `"Semi-Supervised
    Classification with Graph Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_
    (Kipf & Welling, ICLR 2017), the encoder of :class:`ProtoNet`, :class:`GPN`,
    :class:`MetaGNN` and :class:`TENT`.

    .. math::
        H^{(l+1)} = \sigma\big(\hat D^{-1/2} (A + I) \hat D^{-1/2} H^{(l)} W^{(l)} + b^{(l)}\big),

    with ReLU and dropout between layers (none after the last unless ``act_last``).
    The convolutions do not normalise by themselves: :meth:`forward` takes the
    normalised ``edge_weight`` (see :func:`normalized_graph`, computed once per graph),
    or normalises ``edge_index`` on the fly when it is ``None``; a sparse ``edge_index``
    (a CSR ``adj_t``, :func:`fgsam.nn.adjacency.csr_adjacency`) holds the normalised
    weights already and propagates by one sparse product. ``x`` may be a sparse CSR
    matrix (:func:`fgsam.nn.sparse_linear.csr_features`): the first layer's transform is
    then a :class:`~fgsam.nn.sparse_linear.SparseInputLinear` product over its non-zeros,
    equal to the dense one within float rounding. Called on a self-loop-only
    graph (the PeerMLP view, :func:`fgsam.nn.peer_forward`) every layer is
    :math:`xW + b`.

    Args:
        in_channels (int): input feature size.
        hidden_channels (int): hidden size.
        out_channels (int): output size.
        num_layers (int, optional): number of GCN layers (>= 1). (default: ``2``)
        dropout (float, optional): dropout between layers. (default: ``0.0``)
        act_last (bool, optional): ReLU after the last layer too. (default: ``False``)

    Example:
        >>> enc = GCNEncoder(1433, 32, 16, dropout=0.2)
        >>> z = enc(data.x, data.edge_index)  # [num_nodes, 16]
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        act_last: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                            ("out_channels", out_channels), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(
            GCNConv(a, b, normalize=False) for a, b in itertools.pairwise(sizes)
        )
        # GCNConv's own transform, able to read sparse features: its weight, GCNConv's
        # initializer, and no draw of its own from the global stream (inits stay as they were)
        first = self.convs[0]
        with torch.random.fork_rng(devices=[]):
            lin = SparseInputLinear(sizes[0], sizes[1], bias=False, weight_initializer="glorot")
        lin.weight = first.lin.weight
        first.lin = lin
        self.dropout = SeededDropout(dropout)
        self.act_last = bool(act_last)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if edge_index.layout == torch.sparse_csr:
            return self._stack(x, lambda conv, h: _csr_conv(conv, h, edge_index))
        if edge_weight is None and not is_torch_sparse_tensor(edge_index):
            edge_index, edge_weight = gcn_norm(edge_index, None, x.size(0), add_self_loops=True,
                                               dtype=x.dtype)
        return self._stack(x, lambda conv, h: conv(h, edge_index, edge_weight))

    def forward_peer(self, x: Tensor) -> Tensor:
        """The PeerMLP view, :func:`fgsam.nn.peer_forward`'s call: what :meth:`forward`
        computes on a self-loop-only graph (whose GCN weights are all 1), every layer
        :math:`xW + b`, without normalising and scattering over that graph."""
        return self._stack(x, self_loop_output)

    def _stack(self, x: Tensor, layer: Callable[[GCNConv, Tensor], Tensor]) -> Tensor:
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = layer(conv, x)
            if i < last or self.act_last:
                x = F.relu(x)
            if i < last:
                x = self.dropout(x)
        return x


def _csr_conv(conv: GCNConv, x: Tensor, adj_t: Tensor) -> Tensor:
    r"""What ``conv(x, adj_t)`` computes for a ``GCNConv(normalize=False)`` and a CSR
    ``adj_t`` (:math:`\hat A x W + b`), with the propagation by
    :func:`~fgsam.nn.sparse_linear.csr_matmul`: PyG's product differentiates through
    torch's, which transposes and re-sorts ``adj_t`` at every backward pass."""
    out = csr_matmul(adj_t, conv.lin(x))
    return out if conv.bias is None else out + conv.bias


#: The adjacency normalisations of :func:`normalized_graph`.
NORMALIZATIONS = ("symmetric", "row")


def normalized_graph(edge_index: Tensor, num_nodes: int, dtype: torch.dtype,
                     normalization: str = "symmetric") -> tuple[Tensor, Tensor]:
    r"""``(edge_index with self-loops, edge weights)`` of a graph, for :class:`GCNEncoder`
    (compute it once per graph, not per episode): GCN's symmetric
    :math:`D^{-1/2}(A+I)D^{-1/2}` or (``normalization="row"``) the random-walk
    :math:`D^{-1}(A+I)`, a mean over each node's neighbourhood and itself."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, "
                         f"got {normalization!r}")
    if normalization == "symmetric":
        return gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)
    edge_index, _ = add_remaining_self_loops(edge_index, None, 1.0, num_nodes)
    # row i of D^-1 (A + I) weighs each message into node i by 1 / (its in-degree + 1)
    return edge_index, degree(edge_index[1], num_nodes, dtype=dtype).reciprocal()[edge_index[1]]


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Glorot-uniform weights and zero biases for every parameter of ``module``, drawn from
    ``generator`` (on the CPU, then copied to each parameter's device)."""
    for p in module.parameters():
        if p.dim() >= 2:
            w = torch.empty(p.shape, dtype=p.dtype)
            nn.init.xavier_uniform_(w, generator=generator)
            p.copy_(w)
        else:
            p.zero_()


@contextlib.contextmanager
def dropout_off(module: nn.Module) -> Iterator[None]:
    """Run ``module``'s dropout layers (:class:`SeededDropout` and ``torch.nn`` dropout) as
    in evaluation for the block, the rest as it is: a PeerMLP pass without dropout, as the
    FGSAM authors' code runs it. Their mask streams do not advance."""
    layers = [m for m in module.modules() if m.training and
              isinstance(m, (SeededDropout, nn.modules.dropout._DropoutNd))]
    for m in layers:
        m.training = False
    try:
        yield
    finally:
        for m in layers:
            m.training = True


def reseed_dropout(module: nn.Module, seed: int) -> None:
    """Give every :class:`SeededDropout` in ``module`` its own stream derived from ``seed``."""
    for i, m in enumerate(x for x in module.modules() if isinstance(x, SeededDropout)):
        m.reseed((seed + i * 0x9E3779B97F4A7C15) % 2**63)


__all__ = ["NORMALIZATIONS", "GCNEncoder", "SeededDropout", "dropout_off", "init_parameters",
           "normalized_graph", "reseed_dropout"]
