"""Prototypical networks over a GCN encoder."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.data import Data

from fgsam.fewshot.encoder import GCNEncoder
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.method import FewShotMethod, squared_distances


class ProtoNet(FewShotMethod):
    r"""Prototypical networks from `"Prototypical Networks for Few-shot Learning"
    <https://arxiv.org/abs/1703.05175>`_ (Snell et al., NeurIPS 2017), with a GCN encoder
    :math:`f` (:class:`GCNEncoder`, ``in → 2·hidden → hidden``).

    .. math::
        c_n = \frac{1}{K} \sum_{k} f(x)_{s_{n,k}}, \qquad
        \mathrm{logit}_{q, n} = -\lVert f(x)_q - c_n \rVert^2 .

    Peer view (``peer=True``): the encoder runs as its PeerMLP (every GCN layer becomes
    :math:`xW + b`) on the support and query rows only; prototypes and distances are
    unchanged.

    Args:
        in_channels (int): node feature size.
        hidden_channels (int, optional): embedding size. (default: ``16``)
        dropout (float, optional): dropout between GCN layers. (default: ``0.2``)
        num_layers (int, optional): GCN layers. (default: ``2``)

    Example:
        >>> model = ProtoNet(data.num_features)
        >>> logits = model(data, episode)            # [N * Q, N]
        >>> peer_logits = model(data, episode, peer=True)
    """

    name = "protonet"
    aliases = ("proto",)
    sparse_features = True

    def __init__(self, in_channels: int, hidden_channels: int = 16, dropout: float = 0.2,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.encoder = GCNEncoder(in_channels, 2 * hidden_channels, hidden_channels,
                                  num_layers=num_layers, dropout=dropout)

    def forward(self, data: Data, episode: Episode, peer: bool = False) -> Tensor:
        z_s, z_q = self.support_query(self.encoder, data, episode, peer)
        prototypes = z_s.view(episode.n_way, episode.k_shot, -1).mean(1)
        return -squared_distances(z_q, prototypes)


__all__ = ["ProtoNet"]
