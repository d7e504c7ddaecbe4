"""Neural-network pieces: the PeerMLP view and the models."""

from fgsam.nn.linear_first_sage import LinearFirstGraphSAGE, LinearFirstSAGEConv
from fgsam.nn.models import MolGIN, MolTransformer
from fgsam.nn.peer import peer_forward, self_loop_edge_index
from fgsam.nn.peer_edges import self_loop_edge_attr

__all__ = ["LinearFirstGraphSAGE", "LinearFirstSAGEConv", "MolGIN", "MolTransformer",
           "peer_forward", "self_loop_edge_attr", "self_loop_edge_index"]
