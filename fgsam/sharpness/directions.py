"""Filter-normalised random directions in weight space (for loss landscapes)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from fgsam.sharpness.common import check_choice, check_params, gaussian_like, make_generator


def filter_normalized_direction(
    params: Iterable[Tensor],
    generator: int | torch.Generator | None = None,
    one_dim: str = "zero",
) -> list[Tensor]:
    r"""A random direction with every filter scaled to the norm of the same filter of
    the weights, from `Li et al., "Visualizing the Loss Landscape of Neural Nets"
    <https://arxiv.org/abs/1712.09913>`_ (NeurIPS 2018).

    .. math::
        d_{i} \leftarrow \frac{d_{i}}{\lVert d_{i} \rVert} \lVert w_{i} \rVert,
        \qquad d \sim \mathcal{N}(0, I),

    a filter :math:`i` being one slice along the first dimension of a parameter with
    two or more dimensions (a row of a linear layer's weight, an output channel of a
    convolution). This makes the direction as large as the weights in every layer, so
    plots of scale-invariant networks are comparable. One-dimensional (and scalar)
    parameters, i.e. biases and normalisation parameters, get ``0`` with
    ``one_dim="zero"`` (Li et al.'s choice: they are left unperturbed) or the whole
    tensor rescaled to the norm of the parameter with ``one_dim="tensor"``. A filter of
    zero norm gets a zero direction.

    Args:
        params (iterable of Tensor): the weights.
        generator (int or torch.Generator, optional): seed or generator; ``None`` is
            seed ``0``. (default: ``None``)
        one_dim (str, optional): ``"zero"`` or ``"tensor"``. (default: ``"zero"``)

    Returns:
        A list of tensors shaped, typed and placed like ``params``.

    Example:
        >>> d = filter_normalized_direction(model.parameters(), generator=0)
    """
    check_choice("one_dim", one_dim, ("zero", "tensor"))
    params = check_params(params, requires_grad=False)
    gen = make_generator(generator)
    with torch.no_grad():
        weights = [p.detach() for p in params]
        return [
            _normalize(d, w, one_dim) for d, w in zip(gaussian_like(weights, gen), weights)
        ]


def _normalize(d: Tensor, w: Tensor, one_dim: str) -> Tensor:
    if w.dim() <= 1:
        if one_dim == "zero":
            return d.zero_()
        return d.mul_(torch.linalg.vector_norm(w) / torch.linalg.vector_norm(d))
    rows_w = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1)
    rows_d = torch.linalg.vector_norm(d.reshape(d.shape[0], -1), dim=1)
    factor = (rows_w / rows_d).reshape((-1,) + (1,) * (w.dim() - 1))
    return d.mul_(factor)


__all__ = ["filter_normalized_direction"]
