"""Node classification: PyG models by name, full-batch or sampled training with any optimizer,
exact layer-wise inference, one process or many (``torchrun``)."""

from fgsam._distributed import DistributedContext, init_distributed, shutdown_distributed
from fgsam.node.config import NodeConfig, build_node_optimizer, node_optimizers
from fgsam.node.experiment import load_node_model, run_experiment
from fgsam.node.graph import NodeGraph
from fgsam.node.inference import layerwise_inference
from fgsam.node.models import NODE_MODELS, build_node_model, prepare_graph, uses_edge_weight
from fgsam.node.train import NodeRun, train_epoch, train_node, train_step

__all__ = [
    "NODE_MODELS",
    "DistributedContext",
    "NodeConfig",
    "NodeGraph",
    "NodeRun",
    "build_node_model",
    "build_node_optimizer",
    "init_distributed",
    "layerwise_inference",
    "load_node_model",
    "node_optimizers",
    "prepare_graph",
    "run_experiment",
    "shutdown_distributed",
    "train_epoch",
    "train_node",
    "train_step",
    "uses_edge_weight",
]
