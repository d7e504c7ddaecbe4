"""What every few-shot method shares: the interface, the loss, seeding and the graph cache."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import degree, remove_self_loops

from fgsam.fewshot.encoder import init_parameters, normalized_graph, reseed_dropout
from fgsam.fewshot.episode import Episode
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency
from fgsam.nn.peer import peer_forward
from fgsam.nn.sparse_linear import csr_features
from fgsam.optim import SharpnessAwareOptimizer, get_optimizer_class

#: The values of ``feature_layout``: choose, a sparse CSR matrix, or the dense features.
FEATURE_LAYOUTS = ("auto", "sparse", "dense")
#: ``"auto"`` reads the features as a CSR matrix when at most this share is non-zero ...
AUTO_MAX_DENSITY = 0.05
#: ... and they have at least this many entries (nodes x features): BlogCatalog (42.6M,
#: 0.9% non-zero) and amazon-clothing-test20 (84.6M, 0.4%) do, Cora, CiteSeer and Wiki
#: (4-12M) do not, so their results stay bit for bit those of the dense layer
#: (benchmarks/RESULTS.md has the step times of both).
AUTO_MIN_FEATURE_ENTRIES = 20_000_000


def resolve_feature_layout(layout: str, method: nn.Module | None, x: Tensor) -> str:
    """``"sparse"`` or ``"dense"``: how ``method``'s whole-graph GCN passes read the
    features ``x``. ``"auto"`` is ``"sparse"`` for a :class:`FewShotMethod` with
    :attr:`~FewShotMethod.sparse_features` whose ``x`` is at most
    :data:`AUTO_MAX_DENSITY` non-zero with at least :data:`AUTO_MIN_FEATURE_ENTRIES`
    entries; ``"sparse"`` for a method that cannot read it is refused.

    Example:
        >>> resolve_feature_layout("auto", GPN(8189), blogcatalog.x)
        'sparse'
    """
    if layout not in FEATURE_LAYOUTS:
        raise ValueError(f"feature_layout must be one of {', '.join(FEATURE_LAYOUTS)}, got "
                         f"{layout!r}")
    able = isinstance(method, FewShotMethod) and method.sparse_features
    if layout == "sparse" and not able:
        raise ValueError(f"feature_layout='sparse' needs a method whose GCNs read sparse "
                         f"features (gpn, protonet, tent); {type(method).__name__} reads them "
                         f"dense: use 'dense' or 'auto'")
    if layout != "auto":
        return layout
    if not able or x.numel() < AUTO_MIN_FEATURE_ENTRIES:
        return "dense"
    return "sparse" if int(torch.count_nonzero(x)) <= AUTO_MAX_DENSITY * x.numel() else "dense"


def resolved_layouts(build: Callable[[], nn.Module], adjacency: str, feature_layout: str,
                     data: Data) -> tuple[str, str]:
    """``(adjacency, feature_layout)`` for the methods ``build`` makes on ``data``
    (:func:`fgsam.nn.adjacency.resolve_adjacency`, :func:`resolve_feature_layout`), judged
    on a throw-away build (the caller's random stream left as it was)."""
    with torch.random.fork_rng(devices=[]):
        probe = build()
    if not isinstance(probe, nn.Module):  # the trainer refuses it with its own message
        return "edge-index", "dense"
    return (resolve_adjacency(adjacency, probe, data.edge_index.size(1)),
            resolve_feature_layout(feature_layout, probe, data.x))


@dataclass(frozen=True)
class GraphView:
    """Per-graph tensors computed once per data object: the GCN-normalised adjacency
    (``edge_index`` with self-loops and ``edge_weight``, or a CSR ``adj_t`` holding both and
    no ``edge_weight``), each node's degree (number of neighbours, self-loops not
    counted), the features the layers read (``data.x``, or with
    :attr:`FewShotMethod.feature_scale` ``"auto"`` its power-of-two rescaling) and the
    same features as the whole-graph passes read them (``x`` itself, or with
    :attr:`FewShotMethod.feature_layout` ``"sparse"`` its CSR matrix; the PeerMLP passes
    gather dense rows of ``x``)."""

    edge_index: Tensor
    edge_weight: Tensor | None
    degree: Tensor
    x: Tensor
    features: Tensor


class FewShotMethod(nn.Module):
    """Base class of the few-shot node classification methods.

    A method maps a graph and an :class:`Episode` to the logits of the episode's query
    nodes, ``[N * Q, N]``: ``forward(data, episode, peer=False)``. With ``peer=True`` it
    runs its PeerMLP view (message passing replaced by the identity) on the episode's
    nodes only, the descent pass of FGSAM/FGSAM+. :meth:`loss` is the training loss,
    :meth:`reset_parameters` re-initialises every weight and dropout stream from a seed
    (no global RNG).

    A method registers under :attr:`name` (with :attr:`aliases` and
    :attr:`default_episodes`, read by :mod:`fgsam.fewshot.method_registry`), and
    :meth:`create` builds every method from the same arguments.
    """

    #: Name in the registry and in ``fgsam fsnc --method`` (empty: not registered).
    name: ClassVar[str] = ""
    #: Other accepted spellings of :attr:`name`.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Training episodes the FSNC protocol gives this method.
    default_episodes: ClassVar[int] = 1000
    #: Whether the whole-graph passes read :attr:`GraphView.features` into GCNs that take a
    #: sparse CSR feature matrix (:class:`~fgsam.fewshot.encoder.GCNEncoder` does), so that
    #: :attr:`feature_layout` may be ``"sparse"``; the built-in methods set it.
    sparse_features: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        #: How :meth:`graph` hands the adjacency to the GCNs: ``"edge-index"`` (PyG's edge
        #: list and GCN weights) or ``"csr"`` (one normalised sparse matrix, faster on many
        #: edges; equal within float rounding).
        self.adjacency = "edge-index"
        #: How the GCNs' adjacency is normalised (:data:`~fgsam.fewshot.encoder.NORMALIZATIONS`).
        self.normalization = "symmetric"
        #: ``"auto"``: the layers read features far from unit scale divided by the power of
        #: two nearest their median row norm (:func:`feature_scale`), ``"none"``: as given.
        self.feature_scale = "none"
        #: How :meth:`on_graph` hands the features to the GCNs: ``"dense"`` or ``"sparse"``
        #: (a CSR matrix, the first layer's product over its non-zeros; equal within float
        #: rounding, many times faster on wide bag-of-words features).
        self.feature_layout = "dense"
        #: Whether the PeerMLP passes of FGSAM-style optimizers run with dropout (as the
        #: GNN pass does) or without (:func:`~fgsam.fewshot.encoder.dropout_off`, as the
        #: authors' code runs them).
        self.peer_dropout = True
        self._graph_key: tuple | None = None
        self._graph: GraphView | None = None
        self._eval_cache: dict[int, tuple[tuple, Tensor]] = {}

    @classmethod
    def create(cls, in_channels: int, num_classes: int, n_way: int, hidden_channels: int = 16,
               dropout: float = 0.2, **kwargs: Any) -> FewShotMethod:
        """The method for a graph with ``in_channels`` features and ``num_classes`` classes,
        for ``n_way`` episodes; ``kwargs`` go to the constructor. One shape for every method
        (what :func:`~fgsam.fewshot.create_method` calls): a method whose constructor needs
        ``n_way`` or ``num_classes`` overrides it.

        Example:
            >>> model = ProtoNet.create(data.num_features, 7, n_way=2, hidden_channels=8)
        """
        return cls(in_channels, hidden_channels=hidden_channels, dropout=dropout, **kwargs)

    def forward(self, data: Data, episode: Episode, peer: bool = False) -> Tensor:
        raise NotImplementedError

    def loss(self, data: Data, episode: Episode, peer: bool = False,
             reduction: str = "mean") -> Tensor:
        """Cross-entropy of the query logits (``reduction="none"`` gives one loss per
        query node, for optimizers with ``per_sample_loss``)."""
        return F.cross_entropy(self(data, episode, peer=peer), episode.query_y,
                               reduction=reduction)

    def reset_parameters(self, seed: int = 0) -> None:
        """Fresh weights (:meth:`init_weights`) and dropout streams, all from ``seed``."""
        self.init_weights(torch.Generator().manual_seed(int(seed) % 2**63))
        reseed_dropout(self, int(seed))

    def init_weights(self, generator: torch.Generator) -> None:
        """Glorot weights and zero biases drawn from ``generator`` (a method with its own
        initialisation overrides this)."""
        init_parameters(self, generator)

    def graph(self, data: Data) -> GraphView:
        """The cached :class:`GraphView` of ``data`` (recomputed only for another graph,
        device or dtype)."""
        x, edge_index = data.x, data.edge_index
        # a weak reference, not id(): a new graph at a recycled address is another graph
        derived = self.feature_scale == "auto" or self.feature_layout == "sparse"
        key = (weakref.ref(data), edge_index.data_ptr(), tuple(edge_index.shape), x.size(0),
               x.device, x.dtype, self.adjacency, self.normalization, self.feature_scale,
               self.feature_layout, x.data_ptr() if derived else None,
               x._version if derived else None)
        if self._graph is None or self._graph_key != key:
            ei, ew = normalized_graph(edge_index, x.size(0), x.dtype, self.normalization)
            deg = degree(remove_self_loops(edge_index)[0][1], x.size(0), dtype=x.dtype)
            if self.adjacency == "csr":
                ei, ew = csr_adjacency(ei, x.size(0), ew), None
            k = feature_scale(x) if self.feature_scale == "auto" else 0
            if k:
                x = torch.ldexp(x, torch.tensor(-k))  # exact: a power of two
            features = csr_features(x) if self.feature_layout == "sparse" else x
            self._graph, self._graph_key = GraphView(ei, ew, deg, x, features), key
        return self._graph

    def support_query(self, module: nn.Module, data: Data, episode: Episode,
                      peer: bool) -> tuple[Tensor, Tensor]:
        """``module``'s outputs on the support and on the query nodes: on the whole graph,
        or (``peer``) as its PeerMLP on the episode's nodes only."""
        if peer:
            out = peer_forward(module, self.graph(data).x, episode.nodes)
            return out[: episode.support.numel()], out[episode.support.numel():]
        out = self.on_graph(module, data)
        return out[episode.support], out[episode.query]

    def on_graph(self, module: nn.Module, data: Data) -> Tensor:
        """``module`` run on the whole graph. In evaluation (``eval()`` and no autograd) the
        output does not depend on the task, so it is kept until the weights change: test
        and validation tasks then cost one graph pass, not one each."""
        g = self.graph(data)
        if self.training or torch.is_grad_enabled():
            return module(g.features, g.edge_index, g.edge_weight)
        # _version moves with every in-place update (optimizer steps, load_state_dict)
        key = (self._graph_key, data.x.data_ptr(), data.x._version,
               tuple((p.data_ptr(), p._version) for p in module.parameters()))
        hit = self._eval_cache.get(id(module))
        if hit is None or hit[0] != key:
            hit = self._eval_cache[id(module)] = (key, module(g.features, g.edge_index,
                                                             g.edge_weight))
        return hit[1]


#: Median feature-row L2 norm above which ``feature_scale="auto"`` rescales the features
#: (Wiki's raw TF-IDF rows: 261; binary bag-of-words rows of Cora: about 4).
RESCALED_ABOVE = 10.0
#: The values of ``perturb``: every parameter, or only the encoder's.
PERTURB = ("all", "encoder")


def optimizer_parameters(method: FewShotMethod, perturb: str, optimizer: str
                         ) -> tuple[Any, dict[str, Any]]:
    """What :func:`fgsam.optim.create_optimizer` is given for ``method``: the method itself
    (``perturb="all"``, or an optimizer that perturbs nothing), or (``"encoder"``) two
    groups, ``method.encoder``'s parameters and the rest with ``perturb=False``, as the
    FGSAM authors' FGSAM+ runs, with ``model=`` (BatchNorm and DDP handling) in the extra
    keyword arguments.

    Example:
        >>> params, extra = optimizer_parameters(gpn, "encoder", "fgsam+")
        >>> opt = create_optimizer(params, "fgsam+", lr=5e-3, **extra)
    """
    if perturb not in PERTURB:
        raise ValueError(f"perturb must be one of {', '.join(PERTURB)}, got {perturb!r}")
    if perturb == "all" or not issubclass(get_optimizer_class(optimizer),
                                          SharpnessAwareOptimizer):
        return method, {}
    encoder = getattr(method, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"perturb='encoder' needs a method with an encoder, and "
                         f"{type(method).__name__} has none; use perturb='all'")
    mine = {id(p) for p in encoder.parameters()}
    rest = [p for p in method.parameters() if id(p) not in mine]
    groups = [{"params": list(encoder.parameters())}]
    return groups + ([{"params": rest, "perturb": False}] if rest else []), {"model": method}


def feature_scale(x: Tensor) -> int:
    """The exponent :math:`k` of the power of two nearest (in log scale) to the median row
    L2 norm of ``x`` when that median is above :data:`RESCALED_ABOVE`, else 0 (features
    near unit scale, binary bag-of-words rows included, are read as given). Dividing by
    :math:`2^k` is exact in floating point, so ``2^i x`` and ``2^j x`` at such scales give
    bit-identical models.

    Example:
        >>> feature_scale(torch.full((4, 4), 128.0))  # rows of norm 256
        8
    """
    median = float(torch.linalg.vector_norm(x.detach().double(), dim=1).median())
    if not math.isfinite(median) or median <= RESCALED_ABOVE:
        return 0
    return round(math.log2(median))


def squared_distances(query: Tensor, prototypes: Tensor) -> Tensor:
    """``[Q, N]`` squared Euclidean distances between query rows and prototypes."""
    diff = query.unsqueeze(1) - prototypes.unsqueeze(0)
    return diff.pow(2).sum(-1)


__all__ = ["AUTO_MAX_DENSITY", "AUTO_MIN_FEATURE_ENTRIES", "FEATURE_LAYOUTS", "PERTURB",
           "RESCALED_ABOVE", "FewShotMethod", "GraphView", "feature_scale", "optimizer_parameters",
           "resolve_feature_layout", "resolved_layouts", "squared_distances"]
