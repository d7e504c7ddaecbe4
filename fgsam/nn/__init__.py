"""Neural-network pieces: the PeerMLP view and the models."""

from fgsam.nn.models import MolGIN, MolTransformer
from fgsam.nn.peer import peer_forward, self_loop_edge_index

__all__ = ["MolGIN", "MolTransformer", "peer_forward", "self_loop_edge_index"]
