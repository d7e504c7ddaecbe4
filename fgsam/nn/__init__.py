"""Neural-network pieces: the PeerMLP view and the models."""

from fgsam.nn.linear_first_sage import LinearFirstGraphSAGE, LinearFirstSAGEConv
from fgsam.nn.models import MolGIN, MolTransformer
from fgsam.nn.peer import peer_forward, self_loop_edge_index
from fgsam.nn.peer_edges import self_loop_edge_attr
from fgsam.nn.sparse_linear import SparseInputLinear, csr_features, csr_matmul, csr_transpose

__all__ = ["LinearFirstGraphSAGE", "LinearFirstSAGEConv", "MolGIN", "MolTransformer",
           "SparseInputLinear", "csr_features", "csr_matmul", "csr_transpose", "peer_forward",
           "self_loop_edge_attr", "self_loop_edge_index"]
