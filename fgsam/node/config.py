"""The settings of a node-classification run (:class:`NodeConfig`) and the optimizer they
build."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from fgsam._random import derive_seed
from fgsam.optim.registry import create_optimizer, list_optimizers, optimizer_arguments

#: Training procedures of the registry that are not optimizers of one model's weights.
PROCEDURES = ("f2m",)


@dataclass
class NodeConfig:
    """The settings of ``fgsam node``: graph, model, optimizers and training.

    ``dataset`` names a catalog graph (``"cora"``, ``"ogbn-arxiv"``, ...) unless ``shape``
    names a synthetic one (:data:`fgsam.data.SHAPES`, ``scale`` times its size).
    ``batch_size=None`` trains full-batch (every training node in one step, the exact
    forward for evaluation); a batch size trains on sampled neighbourhoods
    (``fanout`` in-edges per node and hop, one entry per layer, ``-1`` for all) and
    evaluates by exact layer-wise inference over the whole graph. ``batch_size`` is per
    process: ``torchrun`` with ``W`` processes takes ``W * batch_size`` seed nodes per
    step. ``options`` holds further hyper-parameters per optimizer name
    (``{"fgsam+": {"k": 5}}``). ``normalize_features``: ``"row"`` divides each node's
    features by their sum (Kipf & Welling's preprocessing, PyG's ``NormalizeFeatures``),
    ``"none"`` keeps them, ``"auto"`` is ``"row"`` for non-negative (bag-of-words)
    features and ``"none"`` otherwise; features read from disk are used as they are.
    ``adjacency``: how the model propagates (``"csr"``: one sparse product per layer,
    ``"edge-index"``: PyG's gather and scatter, ``"auto"``: CSR where it is exact for the
    model and the graph has many edges, see :func:`fgsam.nn.adjacency.resolve_adjacency`),
    in training and evaluation alike.

    Example:
        >>> config = NodeConfig("cora", optimizers=["adam", "fgsam+"], epochs=200)
    """

    dataset: str = "cora"
    shape: str | None = None
    scale: float = 1.0
    model: str = "gcn"
    optimizers: list[str] = field(default_factory=lambda: ["adam"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    rho: float | None = None
    base: str = "adam"
    sync_ascent: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.5
    norm: str | None = None
    heads: int = 4
    batch_size: int | None = None
    fanout: list[int] = field(default_factory=lambda: [15, 10])
    eval_batch_size: int = 4096
    eval_every: int = 1
    num_workers: int = 0
    loader: str = "auto"
    split_seed: int = 0
    root: str | None = None
    features: str | None = None
    normalize_features: str = "auto"
    adjacency: str = "auto"

    @property
    def sampled(self) -> bool:
        """Whether training runs on sampled neighbourhoods (``batch_size`` set)."""
        return self.batch_size is not None

    def model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fgsam.node.models.build_node_model`."""
        return {"hidden": self.hidden, "layers": self.layers, "dropout": self.dropout,
                "norm": self.norm, "heads": self.heads}

    def dataset_label(self) -> str:
        """The graph's name as the results print it."""
        return self.dataset if self.shape is None else f"synthetic:{self.shape}@{self.scale:g}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NodeConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def node_optimizers() -> list[str]:
    """Registry names usable for node classification: every optimizer of the registry
    (FGSAM-style ones take the model's PeerMLP view on the training rows)."""
    return [n for n in list_optimizers() if n not in PROCEDURES]


def optimizer_seed(seed: int) -> int:
    """The seed of a run's optimizer draws (the ``"optimizer"`` stream of ``seed``)."""
    return derive_seed(seed, "optimizer")


def build_node_optimizer(model: torch.nn.Module, config: NodeConfig, name: str,
                         total_steps: int, seed: int | None
                         ) -> tuple[torch.optim.Optimizer, dict[str, Any]]:
    """The optimizer ``name`` for ``model`` with the settings of ``config``, and the
    arguments it resolved (what a run records).

    Args:
        model (torch.nn.Module): the model to train (under DDP the wrapped one: it
            becomes the optimizer's ``model=``, for local or synchronised ascent).
        config (NodeConfig): ``lr``, ``weight_decay``, ``rho``, ``base``,
            ``sync_ascent`` and ``options[name]``.
        name (str): a registry or ``torch.optim`` name.
        total_steps (int): epochs × steps per epoch, for the optimizers with a schedule.
        seed (int, optional): the seed of a stochastic optimizer's own draws.

    Example:
        >>> opt, arguments = build_node_optimizer(model, NodeConfig(), "fgsam+", 200, 0)
    """
    if name in PROCEDURES:
        raise ValueError(f"optimizer {name!r} is a training procedure over sessions, not an "
                         f"optimizer of one run; fgsam node takes one of "
                         f"{', '.join(node_optimizers())} or a torch.optim name")
    arguments = optimizer_arguments(name, config.options.get(name), rho=config.rho,
                                    total_steps=total_steps, sync_ascent=config.sync_ascent,
                                    seed=seed)
    # an option named lr or weight_decay (--opt-arg NAME.lr=...) wins over the run's setting
    opt = create_optimizer(model, name, base=config.base,
                           **{"lr": config.lr, "weight_decay": config.weight_decay, **arguments})
    return opt, arguments


__all__ = ["PROCEDURES", "NodeConfig", "build_node_optimizer", "node_optimizers",
           "optimizer_seed"]
