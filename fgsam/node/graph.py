"""The graph of a node-classification experiment, prepared once for its model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import NormalizeFeatures

from fgsam._distributed import DistributedContext
from fgsam._random import derive_seed
from fgsam.data.neighbor_loader import neighbor_loader
from fgsam.data.node_dataset import NodeDataset
from fgsam.nn.adjacency import csr_adjacency
from fgsam.node.config import NodeConfig
from fgsam.node.models import prepare_graph

#: Choices of ``normalize_features``.
NORMALIZATIONS = ("auto", "row", "none")


@dataclass
class NodeGraph:
    """A :class:`~fgsam.data.NodeDataset` on its device with the graph its model reads:
    for GCN the self-loops and the symmetric normalisation of the whole graph as edge
    weights (:func:`~fgsam.node.models.prepare_graph`), so that a sampled subgraph keeps
    the full graph's degrees.

    ``x`` is a tensor on the device, or (features read from disk) any row-indexable array
    such as a NumPy memmap, of which a sampled batch reads only its rows.

    Example:
        >>> graph = NodeGraph.make(load_node_dataset("cora"), "gcn", "cpu")
    """

    dataset: NodeDataset
    x: Any
    edge_index: Tensor
    edge_weight: Tensor | None
    y: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    features_normalized: bool = False
    _adj_t: Tensor | None = field(default=None, repr=False)
    _in_degree: Tensor | None = field(default=None, repr=False)

    @classmethod
    def make(cls, dataset: NodeDataset, model: str, device: torch.device | str,
             features: Any = None, normalize_features: str = "none") -> NodeGraph:
        """The graph of ``dataset`` for the model ``model`` on ``device`` (``features``: node
        features that replace the dataset's, e.g. a memmap; they stay where they are and
        as they are). ``normalize_features``: ``"row"``, ``"none"`` or ``"auto"`` (see
        :class:`~fgsam.node.NodeConfig`)."""
        if normalize_features not in NORMALIZATIONS:
            raise ValueError(f"normalize_features must be one of {', '.join(NORMALIZATIONS)}, "
                             f"got {normalize_features!r}")
        device = torch.device(device)
        data = dataset.data
        edge_index, edge_weight = prepare_graph(model, data.edge_index, data.num_nodes)
        x, normalized = features, False
        if features is None:
            x = data.x.to(device)
            normalized = normalize_features == "row" or (normalize_features == "auto"
                                                         and bool((x >= 0).all()))
            if normalized:
                x = NormalizeFeatures()(Data(x=x)).x
        return cls(dataset, x, edge_index.to(device),
                   None if edge_weight is None else edge_weight.to(device), data.y.to(device),
                   dataset.train_idx.to(device), dataset.val_idx.to(device),
                   dataset.test_idx.to(device), normalized)

    @property
    def num_nodes(self) -> int:
        return int(self.y.numel())

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def in_degree(self) -> Tensor | None:
        """Each node's in-degree in the graph the model reads, for the unbiased scaling of
        sampled edge weights (:func:`~fgsam.node.train.batch_step`); ``None`` without edge
        weights."""
        if self.edge_weight is None:
            return None
        if self._in_degree is None:
            self._in_degree = torch.bincount(self.edge_index[1], minlength=self.num_nodes)
        return self._in_degree

    @property
    def in_memory(self) -> bool:
        """Whether the features are a tensor (not read from disk)."""
        return isinstance(self.x, Tensor)

    def structure(self, adjacency: str) -> tuple[Tensor, Tensor | None]:
        """``(edge_index, edge_weight)`` of the whole graph, or for ``adjacency="csr"``
        ``(adj_t, None)``: the CSR adjacency with the weights inside, built once."""
        if adjacency != "csr":
            return self.edge_index, self.edge_weight
        if self._adj_t is None:
            self._adj_t = csr_adjacency(self.edge_index, self.num_nodes, self.edge_weight)
        return self._adj_t, None

    def loader(self, config: NodeConfig, seed: int, ctx: DistributedContext) -> Any:
        """The sampled mini-batches of the training nodes for this process (``None`` when
        ``config`` trains full-batch): its shard of one seed order shared by all
        processes, neighbours sampled from ``seed``'s own stream."""
        if not config.sampled:
            return None
        data = Data(edge_index=self.edge_index, y=self.y, num_nodes=self.num_nodes)
        if self.edge_weight is not None:
            data.edge_weight = self.edge_weight
        features = None
        if self.in_memory:
            data.x = self.x
        else:
            features = self.x
        return neighbor_loader(data, config.fanout, input_nodes=self.train_idx,
                               batch_size=config.batch_size, shuffle=True,
                               seed=derive_seed(seed, "sampler"), rank=ctx.rank,
                               world_size=ctx.world_size, num_workers=config.num_workers,
                               features=features, backend=config.loader)

    def accuracy(self, logits: Tensor, idx: Tensor) -> float:
        """Accuracy of ``logits`` on the nodes ``idx`` (OGB's evaluator for OGB graphs)."""
        return self.dataset.accuracy(logits.cpu(), idx.cpu())

    def summary(self) -> dict[str, Any]:
        out = dict(self.dataset.summary())
        out["features_on_disk"] = not self.in_memory
        out["features_normalized"] = self.features_normalized
        out["num_features"] = self.num_features
        return out


__all__ = ["NORMALIZATIONS", "NodeGraph"]
