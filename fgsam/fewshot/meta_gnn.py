"""Meta-GNN: MAML over a GCN, adapted on each episode's support set."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch_geometric.data import Data

from fgsam.fewshot.encoder import GCNEncoder
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.method import FewShotMethod
from fgsam.nn.peer import self_loop_edge_index


class MetaGNN(FewShotMethod):
    r"""Meta-GNN from `"Meta-GNN: On Few-shot Node Classification in Graph Meta-learning"
    <https://arxiv.org/abs/1905.09718>`_ (Zhou et al., CIKM 2019): MAML
    (`Finn et al., ICML 2017 <https://arxiv.org/abs/1703.03400>`_) over a GCN
    (``in → hidden → hidden``, ReLU) followed by a linear ``n_way`` classifier.

    For each episode the weights :math:`\theta` are adapted on the support set by
    ``inner_steps`` steps of SGD, and the query logits use the adapted weights:

    .. math::
        \theta_0 = \theta, \qquad
        \theta_{t+1} = \theta_t - \alpha \nabla_{\theta_t}
            \mathrm{CE}\big(f_{\theta_t}(x)_{S}, y_S\big), \qquad
        \mathrm{logits} = f_{\theta_T}(x)_{Q} .

    The outer optimizer differentiates through the inner loop (second order) unless
    ``first_order`` (then :math:`\partial\theta_T/\partial\theta = I`, FOMAML). With
    ``inner_clamp`` :math:`\delta`, every adapted weight is clamped into
    :math:`[\theta - \delta, \theta + \delta]` after each inner step: the clamped
    fine-tuning of F2M (`Shi et al., NeurIPS 2021 <https://arxiv.org/abs/2111.01549>`_),
    which keeps adaptation inside the flat region that F2M's noise-averaged training of
    :math:`\theta` seeks (``fgsam fsnc --optimizer f2m`` sets it to F2M's :math:`\delta`);
    it applies in meta-training and meta-testing alike. The inner
    loop runs with :func:`torch.func.functional_call`, so the module's own weights are
    never modified; it runs (without a graph for the outer gradient) also under
    :func:`torch.no_grad`, for evaluation.

    Peer view (``peer=True``): the whole inner loop and the query pass use the PeerMLP
    (each GCN layer becomes :math:`xW + b`, as :func:`fgsam.nn.peer_forward`) on the
    support rows and the query rows only. With ``peer_inner=False`` the inner loop runs
    through the GNN even then, and only the query pass, the outer loss FGSAM descends on,
    is the PeerMLP's: adaptation sees the graph, the perturbed descent stays cheap in its
    last pass only.

    Args:
        in_channels (int): node feature size.
        n_way (int): classes per episode (the classifier's outputs).
        hidden_channels (int, optional): hidden size. (default: ``16``)
        dropout (float, optional): dropout between GCN layers. (default: ``0.2``)
        inner_steps (int, optional): SGD steps on the support set. (default: ``10``)
        inner_lr (float, optional): their step size :math:`\alpha`. (default: ``0.1``)
        first_order (bool, optional): FOMAML, no second derivatives. (default: ``False``)
        inner_clamp (float, optional): the clamp half-width :math:`\delta` of adapted
            weights around :math:`\theta`; ``None`` clamps nothing. (default: ``None``)
        num_layers (int, optional): GCN layers. (default: ``2``)
        peer_inner (bool, optional): run the inner loop of the peer view as the PeerMLP
            too. (default: ``True``)

    Example:
        >>> model = MetaGNN(data.num_features, n_way=2, inner_steps=5, first_order=True)
        >>> logits = model(data, episode)  # query logits after adaptation on the support set
    """

    name = "metagnn"
    sparse_features = True
    aliases = ("meta-gnn", "maml")
    default_episodes = 500  # MAML-style methods train for fewer episodes in the protocol

    def __init__(self, in_channels: int, n_way: int, hidden_channels: int = 16,
                 dropout: float = 0.2, inner_steps: int = 10, inner_lr: float = 0.1,
                 first_order: bool = False, num_layers: int = 2,
                 inner_clamp: float | None = None, peer_inner: bool = True) -> None:
        super().__init__()
        if isinstance(n_way, bool) or not isinstance(n_way, int) or n_way < 2:
            raise ValueError(f"n_way must be an integer >= 2, got {n_way!r}")
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {inner_steps!r}")
        if isinstance(inner_lr, bool) or not isinstance(inner_lr, (int, float)) or inner_lr < 0:
            raise ValueError(f"inner_lr must be a number >= 0, got {inner_lr!r}")
        if inner_clamp is not None and (isinstance(inner_clamp, bool) or not isinstance(
                inner_clamp, (int, float)) or not 0 <= inner_clamp < float("inf")):
            raise ValueError(f"inner_clamp must be None or a finite number >= 0, got "
                             f"{inner_clamp!r}")
        self.n_way = n_way
        self.inner_steps = inner_steps
        self.inner_lr = float(inner_lr)
        self.first_order = bool(first_order)
        self.inner_clamp = None if inner_clamp is None else float(inner_clamp)
        if not isinstance(peer_inner, bool):
            raise ValueError(f"peer_inner must be True or False, got {peer_inner!r}")
        self.peer_inner = peer_inner
        self.encoder = GCNEncoder(in_channels, hidden_channels, hidden_channels,
                                  num_layers=num_layers, dropout=dropout, act_last=True)
        self.classifier = nn.Linear(hidden_channels, n_way)

    @classmethod
    def create(cls, in_channels: int, num_classes: int, n_way: int, hidden_channels: int = 16,
               dropout: float = 0.2, **kwargs: Any) -> MetaGNN:
        """:meth:`FewShotMethod.create`: the classifier has ``n_way`` outputs (an ``n_way`` in
        ``kwargs`` is overridden)."""
        return cls(in_channels, hidden_channels=hidden_channels, dropout=dropout,
                   **{**kwargs, "n_way": n_way})

    def forward(self, data: Data, episode: Episode, peer: bool = False) -> Tensor:
        if episode.n_way != self.n_way:
            raise ValueError(
                f"this MetaGNN was built for n_way={self.n_way}, got a {episode.n_way}-way episode"
            )
        outer_grad = torch.is_grad_enabled()
        params = self.adapt(data, episode, peer and self.peer_inner)
        with torch.set_grad_enabled(outer_grad):
            logits = self.logits(params, data, episode.query, peer)
        return logits if outer_grad else logits.detach()

    def adapt(self, data: Data, episode: Episode, peer: bool = False) -> dict[str, Tensor]:
        """The weights after ``inner_steps`` SGD steps on the support set (a dict of
        tensors named as in :meth:`named_parameters`)."""
        second_order = torch.is_grad_enabled() and not self.first_order
        params = theta = dict(self.named_parameters())
        with torch.enable_grad():
            for _ in range(self.inner_steps):
                loss = F.cross_entropy(self.logits(params, data, episode.support, peer),
                                       episode.support_y)
                grads = torch.autograd.grad(loss, list(params.values()),
                                            create_graph=second_order)
                params = {
                    name: p - self.inner_lr * (g if second_order else g.detach())
                    for (name, p), g in zip(params.items(), grads)
                }
                if self.inner_clamp is not None:
                    c = self.inner_clamp
                    params = {n: theta[n] + (p - theta[n]).clamp(-c, c) for n, p in params.items()}
        return params

    def logits(self, params: dict[str, Tensor], data: Data, index: Tensor, peer: bool) -> Tensor:
        """Class logits of the nodes ``index`` under the weights ``params``."""
        enc = {k[len("encoder."):]: v for k, v in params.items() if k.startswith("encoder.")}
        cls = {k[len("classifier."):]: v for k, v in params.items() if k.startswith("classifier.")}
        if peer:
            x = self.graph(data).x[index]
            loops = self_loop_edge_index(x.size(0), x.device)
            weight = torch.ones(x.size(0), dtype=x.dtype, device=x.device)
            z = functional_call(self.encoder, enc, (x, loops, weight))
        else:
            g = self.graph(data)
            z = functional_call(self.encoder, enc, (g.features, g.edge_index,
                                                     g.edge_weight))[index]
        return functional_call(self.classifier, cls, (z,))

    def extra_repr(self) -> str:
        clamp = "" if self.inner_clamp is None else f", inner_clamp={self.inner_clamp}"
        inner = "" if self.peer_inner else ", peer_inner=False"
        return (f"n_way={self.n_way}, inner_steps={self.inner_steps}, "
                f"inner_lr={self.inner_lr}, first_order={self.first_order}{clamp}{inner}")


__all__ = ["MetaGNN"]
