"""Every setting of a molecule training run (what ``fgsam mol`` records and checkpoints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MolConfig:
    """The settings of ``fgsam mol``: dataset, split, model, optimizers and training.

    Model sizes left ``None`` keep the model's defaults. ``options`` holds further
    hyper-parameters per optimizer name (``{"graphsam": {"beta": 0.9}}``). ``standardize``
    puts regression outputs on the scale of the training labels
    (:class:`~fgsam.mol.target_scaling.TargetScaling`). ``average="swad"`` tests the
    :class:`~fgsam.optim.SWAD` weight average (``average_options`` are its arguments)
    instead of the weights of the best validation epoch.

    Example:
        >>> config = MolConfig("ogbg-molbbbp", optimizers=["adam", "sam", "graphsam"])
    """

    dataset: str = "ogbg-molbbbp"
    model: str = "transformer"
    optimizers: list[str] = field(default_factory=lambda: ["graphsam"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    rho: float | None = None
    base: str = "adam"
    sync_ascent: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: int | None = None
    layers: int | None = None
    heads: int | None = None
    dropout: float | None = None
    full_attention: bool = False
    standardize: bool = True
    split: str = "scaffold"
    split_seed: int | None = None
    max_molecules: int | None = None
    root: str | None = None
    cache_dir: str | None = None
    average: str | None = None
    average_options: dict[str, Any] = field(default_factory=dict)

    def model_kwargs(self) -> dict[str, Any]:
        """The model's size arguments (``None`` keeps a default)."""
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads,
                "dropout": self.dropout, "full_attention": self.full_attention or None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MolConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


__all__ = ["MolConfig"]
