"""fgsam: fast sharpness-aware training for graph neural networks.

FGSAM/FGSAM+ (the ascent with the GNN, the descent with its weight-shared PeerMLP),
the SAM family behind one optimizer contract, episodic few-shot node classification,
a molecular graph transformer trained with GraphSAM, and sharpness diagnostics.
"""

from fgsam._version import __version__

__all__ = ["__version__"]
