"""TENT: node-, class- and task-level adaptation for few-shot node classification."""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph, scatter

from fgsam.fewshot.encoder import GCNEncoder
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.method import FewShotMethod
from fgsam.nn.peer import self_loop_edge_index

#: Cached query ego-subgraphs are dropped once they hold more edges than this.
_EGO_CACHE_EDGES = 20_000_000


class TENT(FewShotMethod):
    r"""TENT from `"Task-Adaptive Few-shot Node Classification"
    <https://arxiv.org/abs/2206.11972>`_ (Wang et al., KDD 2022).

    A one-layer GCN :math:`e` embeds the nodes. Then, per episode:

    * **node level**: each class :math:`n` gets a class-ego subgraph, its support nodes
      and their neighbours plus a virtual class node (input :math:`\bar e_n`, the mean
      support embedding) linked to the support nodes; each query node :math:`q` gets its
      2-hop ego subgraph. A 2-layer GCN :math:`h` gives the class representation
      :math:`r_n` (the virtual node's output) and the query representation :math:`r_q`
      (mean over its subgraph's nodes);
    * **class level**: :math:`h`'s weights are modulated by a FiLM generator fed with the
      task context :math:`\bar e = \frac1N \sum_n \bar e_n`:
      :math:`W' = W \odot (1 + \alpha(\bar e)) + \beta(\bar e)` (biases likewise);
    * **task level**: each class gets a temperature from the spread of its support
      embeddings, :math:`\tau_n = \sum_k \lVert e_{s_{n,k}} - \bar e_n \rVert`, and

    .. math::
        \mathrm{logit}_{q,n} = \frac{\cos(r_q, r_n)}{T \cdot \tilde\tau_n},
        \qquad \tilde\tau_n = \frac{\tau_n + 10^{-8}}{\frac1N\sum_m \tau_m + 10^{-8}} .

    :meth:`loss` adds ``supervised_weight`` times a cross-entropy over the base classes
    (a linear classifier on :math:`e`) of the episode's support and query nodes.

    Differences from the authors' code, on purpose: (1) the virtual class node is linked
    to the support nodes, as in the paper (the code leaves it isolated, so :math:`r_n`
    never sees the subgraph); (2) each subgraph is GCN-normalised on its own (the code
    slices the full graph's row-normalised adjacency); (3) the class temperatures divide
    the cosine logits (the code scales :math:`r_n` before a cosine similarity, which
    cancels the scaling); (4) the supervised term covers the episode's nodes (the code's
    covers every node of the training classes), so that the PeerMLP view touches the
    episode's rows only; (5) evaluation uses these same logits (the code fits a logistic
    regression on :math:`e` of the support nodes at test time).

    Peer view (``peer=True``): :math:`e` and :math:`h` run as their PeerMLPs on the
    episode's rows: each subgraph shrinks to its centre, so :math:`r_n = h'(\bar e_n)`
    and :math:`r_q = h'(e_q)`; the FiLM generator and the temperatures are unchanged.

    Args:
        in_channels (int): node feature size.
        num_classes (int): number of classes of the graph (for the supervised term).
        hidden_channels (int, optional): embedding size. (default: ``16``)
        dropout (float, optional): dropout inside :math:`h`. (default: ``0.2``)
        temperature (float, optional): base temperature :math:`T`. (default: ``0.5``)
        supervised_weight (float, optional): weight of the base-class term.
            (default: ``1.0``)
        ego_hops (int, optional): hops of the query ego subgraphs. (default: ``2``)

    Example:
        >>> model = TENT(data.num_features, num_classes=int(data.y.max()) + 1)
        >>> loss = model.loss(data, episode)
    """

    name = "tent"
    sparse_features = True

    def __init__(self, in_channels: int, num_classes: int, hidden_channels: int = 16,
                 dropout: float = 0.2, temperature: float = 0.5, supervised_weight: float = 1.0,
                 ego_hops: int = 2) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        if not isinstance(supervised_weight, (int, float)) or supervised_weight < 0:
            raise ValueError(f"supervised_weight must be a number >= 0, got {supervised_weight!r}")
        if isinstance(ego_hops, bool) or not isinstance(ego_hops, int) or ego_hops < 0:
            raise ValueError(f"ego_hops must be an integer >= 0, got {ego_hops!r}")
        self.num_classes = num_classes
        self.temperature = float(temperature)
        self.supervised_weight = float(supervised_weight)
        self.ego_hops = ego_hops
        self.embedding = GCNEncoder(in_channels, hidden_channels, hidden_channels, num_layers=1)
        self.gnn = GCNEncoder(hidden_channels, hidden_channels, hidden_channels, num_layers=2,
                              dropout=dropout)
        self._gnn_size = sum(p.numel() for p in self.gnn.parameters())
        self.film = nn.Linear(hidden_channels, 2 * self._gnn_size)
        self.classifier = nn.Linear(hidden_channels, num_classes)
        self._ego: dict[int, tuple[Tensor, Tensor]] = {}
        self._ego_key: tuple | None = None
        self._ego_edges = 0

    # ---------------------------------------------------------------- public
    @classmethod
    def create(cls, in_channels: int, num_classes: int, n_way: int, hidden_channels: int = 16,
               dropout: float = 0.2, **kwargs: Any) -> TENT:
        """:meth:`FewShotMethod.create`: the supervised head has ``num_classes`` outputs (a
        ``num_classes`` in ``kwargs`` is overridden)."""
        return cls(in_channels, hidden_channels=hidden_channels, dropout=dropout,
                   **{**kwargs, "num_classes": num_classes})

    def forward(self, data: Data, episode: Episode, peer: bool = False) -> Tensor:
        return self._logits_and_embeddings(data, episode, peer)[0]

    def loss(self, data: Data, episode: Episode, peer: bool = False,
             reduction: str = "mean") -> Tensor:
        """Query cross-entropy plus ``supervised_weight`` × the base-class term (with
        ``reduction="none"`` the base-class mean is added to every query's loss)."""
        logits, e_nodes = self._logits_and_embeddings(data, episode, peer)
        loss = F.cross_entropy(logits, episode.query_y, reduction=reduction)
        if self.supervised_weight == 0.0:
            return loss
        labels = episode.classes[torch.cat([episode.support_y, episode.query_y])]
        base = F.cross_entropy(self.classifier(e_nodes), labels)
        return loss + self.supervised_weight * base

    def adapted_gnn(self, context: Tensor) -> dict[str, Tensor]:
        r"""Class-level adaptation: :math:`h`'s weights modulated by FiLM from ``context``.

        The generator's output is :math:`\alpha` then :math:`\beta`, each laid out over
        :math:`h`'s parameters in ``self.gnn.named_parameters()`` order (flattened)."""
        alpha, beta = self.film(context).split(self._gnn_size)
        params, start = {}, 0
        for name, p in self.gnn.named_parameters():
            a = alpha[start:start + p.numel()].view_as(p)
            b = beta[start:start + p.numel()].view_as(p)
            params[name] = p * (1.0 + a) + b
            start += p.numel()
        return params

    # -------------------------------------------------------------- internals
    def _logits_and_embeddings(self, data: Data, episode: Episode,
                               peer: bool) -> tuple[Tensor, Tensor]:
        n, k = episode.n_way, episode.k_shot
        e_s, e_q = self.support_query(self.embedding, data, episode, peer)
        class_mean = e_s.view(n, k, -1).mean(1)
        params = self.adapted_gnn(class_mean.mean(0))
        if peer:
            r_class = self._run(params, class_mean)
            r_query = self._run(params, e_q)
        else:
            e = self.on_graph(self.embedding, data)
            r_class = self._class_representations(params, data, episode, e, class_mean)
            r_query = self._query_representations(params, data, episode, e)
        spread = (e_s.view(n, k, -1) - class_mean.unsqueeze(1)).norm(dim=-1).sum(1)
        rel = (spread + 1e-8) / (spread.mean() + 1e-8)
        cos = F.normalize(r_query, dim=-1) @ F.normalize(r_class, dim=-1).t()
        return cos / (self.temperature * rel), torch.cat([e_s, e_q])

    def _run(self, params: dict[str, Tensor], x: Tensor, edge_index: Tensor | None = None
             ) -> Tensor:
        """The adapted GCN on ``x`` (self-loops only when ``edge_index`` is None)."""
        if edge_index is None:
            loops = self_loop_edge_index(x.size(0), x.device)
            ones = torch.ones(x.size(0), dtype=x.dtype, device=x.device)
            return functional_call(self.gnn, params, (x, loops, ones))
        return functional_call(self.gnn, params, (x, edge_index))

    def _class_representations(self, params: dict[str, Tensor], data: Data, episode: Episode,
                               e: Tensor, class_mean: Tensor) -> Tensor:
        n, k = episode.n_way, episode.k_shot
        feats, edges, virtual, offset = [], [], [], 0
        for j in range(n):
            sup = episode.support[j * k:(j + 1) * k]
            subset, sub_ei, mapping, _ = k_hop_subgraph(sup, 1, data.edge_index,
                                                        relabel_nodes=True,
                                                        num_nodes=data.num_nodes)
            v = torch.full_like(mapping, subset.numel())
            link = torch.cat([torch.stack([mapping, v]), torch.stack([v, mapping])], 1)
            feats += [e[subset], class_mean[j:j + 1]]
            edges.append(torch.cat([sub_ei, link], 1) + offset)
            virtual.append(offset + subset.numel())
            offset += subset.numel() + 1
        out = self._run(params, torch.cat(feats), torch.cat(edges, 1))
        return out[torch.tensor(virtual, device=out.device)]

    def _query_representations(self, params: dict[str, Tensor], data: Data, episode: Episode,
                               e: Tensor) -> Tensor:
        feats, edges, batch, offset = [], [], [], 0
        for i, q in enumerate(episode.query.tolist()):
            subset, sub_ei = self._ego_subgraph(data, q)
            feats.append(e[subset])
            edges.append(sub_ei + offset)
            batch.append(torch.full((subset.numel(),), i, dtype=torch.long, device=e.device))
            offset += subset.numel()
        out = self._run(params, torch.cat(feats), torch.cat(edges, 1))
        return scatter(out, torch.cat(batch), dim=0, dim_size=episode.query.numel(),
                       reduce="mean")

    def _ego_subgraph(self, data: Data, node: int) -> tuple[Tensor, Tensor]:
        """``(nodes, relabelled edges)`` of ``node``'s ``ego_hops`` subgraph, cached per graph."""
        key = (weakref.ref(data), data.edge_index.data_ptr(), data.num_nodes,
               data.edge_index.device)
        if self._ego_key != key or self._ego_edges > _EGO_CACHE_EDGES:
            self._ego, self._ego_key, self._ego_edges = {}, key, 0
        hit = self._ego.get(node)
        if hit is None:
            center = torch.tensor([node], device=data.edge_index.device)
            subset, sub_ei, _, _ = k_hop_subgraph(center, self.ego_hops, data.edge_index,
                                                  relabel_nodes=True, num_nodes=data.num_nodes)
            hit = self._ego[node] = (subset, sub_ei)
            self._ego_edges += sub_ei.size(1)
        return hit

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, temperature={self.temperature}, "
                f"supervised_weight={self.supervised_weight}, ego_hops={self.ego_hops}")


__all__ = ["TENT"]
