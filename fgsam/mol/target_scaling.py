"""Regression outputs on the scale of the training labels."""

from __future__ import annotations

import torch
from torch import Tensor


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


__all__ = ["TargetScaling"]
