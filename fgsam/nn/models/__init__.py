"""Models: the molecular graph transformer (sparse attention) and the GIN baseline."""

from fgsam.nn.models.attention_edges import attention_edges
from fgsam.nn.models.edge_softmax import edge_softmax, edge_sum
from fgsam.nn.models.gin import MolGIN, MolGINVirtual
from fgsam.nn.models.mol_transformer import MolTransformer, MolTransformerLayer
from fgsam.nn.models.sparse_attention import SparseAttention

__all__ = [
    "MolGIN",
    "MolGINVirtual",
    "MolTransformer",
    "MolTransformerLayer",
    "SparseAttention",
    "attention_edges",
    "edge_softmax",
    "edge_sum",
]
