"""The training loss of molecule tasks, with missing (NaN) labels masked out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: OGB's task types.
CLASSIFICATION, REGRESSION = "binary classification", "regression"


def masked_loss(pred: Tensor, y: Tensor, task_type: str, per_sample: bool = False) -> Tensor:
    r"""Binary cross-entropy on logits (classification) or squared error (regression),
    averaged over the labelled entries only:

    .. math::
        L = \frac{1}{|\mathcal{M}|} \sum_{(i, t) \in \mathcal{M}} \ell(\hat y_{it}, y_{it}),
        \qquad \mathcal{M} = \{(i, t) : y_{it} \text{ is not NaN}\}.

    With ``per_sample`` the result is one loss per molecule that has a label (the mean
    over its labelled tasks), for optimizers that weight or select samples.

    Args:
        pred (torch.Tensor): ``[B, T]`` predictions (logits for classification).
        y (torch.Tensor): ``[B, T]`` labels, NaN where missing.
        task_type (str): ``"binary classification"`` or ``"regression"``.
        per_sample (bool, optional): return ``[B']`` per-molecule losses.
            (default: ``False``)

    Example:
        >>> loss = masked_loss(model(batch), batch.y, dataset.task_type)
    """
    if pred.shape != y.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but y has {tuple(y.shape)}")
    labelled = ~torch.isnan(y)
    target = torch.where(labelled, y, torch.zeros_like(y)).to(pred.dtype)
    if task_type == CLASSIFICATION:
        elementwise = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    elif task_type == REGRESSION:
        elementwise = (pred - target) ** 2
    else:
        raise ValueError(f"task_type must be {CLASSIFICATION!r} or {REGRESSION!r}, "
                         f"got {task_type!r}")
    elementwise = elementwise * labelled
    if not per_sample:
        return elementwise.sum() / labelled.sum().clamp(min=1)
    counts = labelled.sum(1)
    keep = counts > 0
    return elementwise.sum(1)[keep] / counts[keep]


__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "masked_loss",
]
