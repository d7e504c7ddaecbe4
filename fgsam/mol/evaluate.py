"""Predictions over a loader, gathered from every process, scored by OGB's Evaluator."""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor
from torch_geometric.loader import DataLoader

from fgsam.mol.distributed import DistributedContext
from fgsam.mol.molecule_split import sampler_indices


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


__all__ = ["evaluate", "predict", "score"]
