"""The models of a molecule run: building them, target scaling, predictions and metrics,
and checkpoints that rebuild model, data and split."""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.loader import DataLoader

from fgsam._io import torch_save, write_json
from fgsam.data.molecule_dataset import MoleculeDataset
from fgsam.fewshot.checkpoint import load_weights, read_checkpoint_files
from fgsam.mol.config import MolConfig
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.loss import REGRESSION
from fgsam.mol.split import MoleculeSplit, sampler_indices
from fgsam.nn.models.gin import MolGIN, MolGINVirtual
from fgsam.nn.models.mol_transformer import MolTransformer

#: Model names and their classes.
MODELS: dict[str, type[torch.nn.Module]] = {"transformer": MolTransformer, "gin": MolGIN,
                                            "gin-virtual": MolGINVirtual}


def build_model(name: str, num_tasks: int, **kwargs: Any) -> torch.nn.Module:
    """``MolTransformer`` (``"transformer"``) or ``MolGIN`` (``"gin"``); keyword arguments
    that are ``None`` keep the model's default, and ``heads``/``full_attention`` are
    ignored by GIN.

    Example:
        >>> model = build_model("transformer", 1, hidden=64, layers=3, heads=None)
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name in ("gin", "gin-virtual"):
        for transformer_only in ("heads", "full_attention", "max_full_nodes"):
            kwargs.pop(transformer_only, None)
    return MODELS[name](num_tasks, **kwargs)


def model_arguments(name: str, **kwargs: Any) -> dict[str, Any]:
    """The size arguments :func:`build_model` builds ``name`` with: the given ones that are
    not ``None``, the model's defaults for the rest (what a run records, instead of the
    ``None`` it was asked with).

    Example:
        >>> model_arguments("gin", hidden=None, layers=3)
        {'hidden': 300, 'layers': 3, 'dropout': 0.5}
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    params = inspect.signature(MODELS[name].__init__).parameters
    return {k: kwargs[k] if kwargs.get(k) is not None else p.default
            for k, p in params.items()
            if k not in ("self", "num_tasks") and p.default is not inspect.Parameter.empty}


class TargetScaling(torch.nn.Module):
    r"""Wraps a regression model so that its raw output :math:`z` is read as a
    standardised label: :math:`\hat y = \sigma z + \mu`, with :math:`\mu, \sigma` the
    per-task mean and standard deviation of the training labels (missing labels
    ignored), as chemprop and the GraphSAM code do for regression sets.

    The wrapped model starts out predicting the mean label with the right spread, which
    matters for targets far from zero (FreeSolv's mean is about -3.8). With Adam-type
    and sharpness-aware optimizers (whose ascent is normalised) the squared error on
    :math:`\hat y` trains like the squared error on standardised labels.

    Args:
        model (torch.nn.Module): the regression model, ``[B, T]`` outputs.
        mean (torch.Tensor): ``[T]`` label means.
        std (torch.Tensor): ``[T]`` label standard deviations (0 is treated as 1).

    Example:
        >>> model = TargetScaling.fit(MolTransformer(1), train_labels)
    """

    def __init__(self, model: torch.nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        std = torch.where(std > 0, std, torch.ones_like(std))
        self.register_buffer("mean", mean.detach().float().clone())
        self.register_buffer("std", std.detach().float().clone())

    @classmethod
    def fit(cls, model: torch.nn.Module, labels: Tensor) -> TargetScaling:
        """Wrap ``model`` with the statistics of ``labels`` (``[N, T]``, NaN missing)."""
        labelled = ~torch.isnan(labels)
        count = labelled.sum(0).clamp(min=1)
        filled = torch.where(labelled, labels, torch.zeros_like(labels))
        mean = filled.sum(0) / count
        var = (torch.where(labelled, labels - mean, torch.zeros_like(labels)) ** 2).sum(0)
        std = (var / (count - 1).clamp(min=1)).sqrt()
        return cls(model, mean, std)

    def forward(self, data) -> Tensor:
        return self.model(data) * self.std + self.mean

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device | str,
            ctx: DistributedContext | None = None) -> tuple[Tensor, Tensor]:
    """``(y_true, y_pred)`` of the whole subset behind ``loader`` (CPU, subset order).

    Under several processes each predicts its share and the shares are gathered, so
    every process returns the full arrays.
    """
    ctx = ctx or DistributedContext()
    was_training = model.training
    model.eval()
    trues, preds = [], []
    for batch in loader:
        batch = batch.to(device)
        preds.append(model(batch).float())
        trues.append(batch.y.float())
    model.train(was_training)
    index = sampler_indices(loader).to(device)
    y_true, y_pred = torch.cat(trues), torch.cat(preds)
    if ctx.enabled:
        index, y_true, y_pred = ctx.gather(index), ctx.gather(y_true), ctx.gather(y_pred)
    n = len(loader.dataset)
    # Padding repeats a few molecules; writing them twice stores the same row.
    out_true = y_true.new_empty(n, y_true.size(1))
    out_pred = y_pred.new_empty(n, y_pred.size(1))
    out_true[index], out_pred[index] = y_true, y_pred
    return out_true.cpu(), out_pred.cpu()


def score(evaluator, y_true: Tensor, y_pred: Tensor) -> float:
    """``evaluator``'s metric (``rocauc``/``rmse``); NaN, with a warning, when it is not
    defined (e.g. a part without both classes in any task)."""
    try:
        result = evaluator.eval({"y_true": y_true.numpy(), "y_pred": y_pred.numpy()})
    except RuntimeError as err:
        warnings.warn(f"{evaluator.name}: {err}; the metric is NaN", stacklevel=2)
        return math.nan
    return float(result[evaluator.eval_metric])


def evaluate(model: torch.nn.Module, loader: DataLoader, evaluator,
             device: torch.device | str, ctx: DistributedContext | None = None) -> float:
    """The metric of ``model`` on the molecules behind ``loader``.

    Example:
        >>> from ogb.graphproppred import Evaluator
        >>> auc = evaluate(model, data.loader("valid"), Evaluator("ogbg-molbbbp"), "cpu")
    """
    return score(evaluator, *predict(model, loader, device, ctx))


CONFIG, WEIGHTS = "config.json", "model.pt"
#: Keys ``config.json`` must hold for :func:`load_mol_checkpoint`.
REQUIRED = ("dataset", "model", "optimizer", "seed", "split", "split_seed", "num_tasks",
            "metric")


@dataclass
class MolCheckpoint:
    """What :func:`load_mol_checkpoint` returns; unpacks as ``model, data, config``.

    Args:
        model (torch.nn.Module): the trained model, in evaluation mode.
        data (MoleculeSplit): the dataset and the split it was trained on; its
            ``loader("train", ...)`` and ``loss(pred, y)`` rebuild the training loss.
        config (dict): every setting saved with the model.
    """

    model: torch.nn.Module
    data: MoleculeSplit
    config: dict[str, Any]

    def __iter__(self) -> Iterator[Any]:
        # keeps the tuple-style unpacking of the earlier NamedTuple working
        return iter((self.model, self.data, self.config))


def save_mol_checkpoint(directory: str | os.PathLike[str], model: torch.nn.Module,
                        config: dict[str, Any]) -> Path:
    """Write ``model.pt`` (the state dict, or ``model`` itself if it is one) and
    ``config.json`` into ``directory``, each atomically; the config is written last, so
    a folder with a ``config.json`` is complete. ``config`` needs the keys of
    :data:`REQUIRED` (and the :class:`MolConfig` fields that size the model)."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"config lacks the keys {missing} that load_mol_checkpoint needs")
    state = model if isinstance(model, dict) else model.state_dict()
    out = Path(directory)
    torch_save(out / WEIGHTS, {k: v.detach().cpu() for k, v in state.items()})
    write_json(out / CONFIG, config)
    return out


def load_mol_checkpoint(directory: str | os.PathLike[str],
                        root: str | os.PathLike[str] | None = None,
                        cache_dir: str | os.PathLike[str] | None = None,
                        device: torch.device | str | None = None) -> MolCheckpoint:
    """Rebuild a model saved by ``fgsam mol --save-checkpoint DIR``, with its dataset and
    split (the data root and cache from the arguments, else those saved, else the
    defaults).

    Both files are checked before any data is loaded: a missing, truncated or foreign
    ``model.pt``, or a ``config.json`` that is not JSON or lacks the keys of
    :data:`REQUIRED`, raises a one-line error naming the file and what was expected
    (:func:`fgsam.fewshot.checkpoint.read_checkpoint_files`); weights of another model
    raise one naming ``model.pt`` (:func:`fgsam.fewshot.checkpoint.load_weights`).

    Example:
        >>> model, data, config = load_mol_checkpoint("runs/bbbp-graphsam")
        >>> batch = next(iter(data.loader("train", batch_size=64)))
        >>> loss = data.loss(model(batch), batch.y)
    """
    folder = Path(directory)
    config, state = read_checkpoint_files(folder, "fgsam mol --save-checkpoint DIR", REQUIRED)
    settings = MolConfig.from_dict(config)
    dataset = MoleculeDataset(config["dataset"], root if root is not None else config.get("root"),
                              cache_dir if cache_dir is not None else config.get("cache_dir"),
                              log=False)
    data = MoleculeSplit.make(dataset, config["split"], int(config["split_seed"]),
                              config.get("max_molecules"))
    model = build_model(config["model"], int(config["num_tasks"]), **settings.model_kwargs())
    if settings.standardize and dataset.task_type == REGRESSION:
        tasks = int(config["num_tasks"])  # the statistics come with the weights
        model = TargetScaling(model, torch.zeros(tasks), torch.ones(tasks))
    load_weights(model, state, folder / WEIGHTS)
    model = model.to(torch.device(device) if device is not None else "cpu").eval()
    return MolCheckpoint(model, data, config)


__all__ = [
    "CONFIG",
    "MODELS",
    "REQUIRED",
    "WEIGHTS",
    "MolCheckpoint",
    "TargetScaling",
    "build_model",
    "evaluate",
    "load_mol_checkpoint",
    "model_arguments",
    "predict",
    "save_mol_checkpoint",
    "score",
]
