"""PNG plots of loss landscapes and Hessian spectra (needs matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fgsam import typing as fgsam_typing
from fgsam._io import atomic_write
from fgsam.sharpness.landscape import Landscape


def plot_landscape(
    landscape: Landscape, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    r"""Write a :class:`Landscape` as a PNG: a line plot for a 1-D landscape, a filled
    contour plot with a colour bar for a 2-D one; :math:`w` is marked at the origin.

    Following `Li et al. (NeurIPS 2018) <https://arxiv.org/abs/1712.09913>`_. The file is
    written to a temporary file beside ``path`` and moved into place, so a failure leaves
    no half-written PNG. Non-finite losses are left blank.

    Args:
        landscape (Landscape): from :func:`loss_landscape`.
        path (str or os.PathLike): the PNG to write (its folder must exist).
        title (str, optional): the figure title. (default: ``None``)

    Returns:
        The path written.

    Example:
        >>> plot_landscape(loss_landscape(closure, model.parameters()), "landscape.png")
    """
    if not isinstance(landscape, Landscape):
        raise ValueError(
            f"landscape must be a Landscape from loss_landscape, got {type(landscape).__name__}"
        )
    figure = _figure("plot_landscape")
    axes = figure.add_subplot()
    values = landscape.values.masked_fill(~torch.isfinite(landscape.values), float("nan"))
    if landscape.dims == 1:
        axes.plot(landscape.coordinates[0].numpy(), values.numpy(), color="C0")
        axes.axvline(0.0, color="grey", linewidth=0.8, linestyle="--")
        axes.set_xlabel("a (along d1)")
        axes.set_ylabel("loss")
    else:
        a, b = (c.numpy() for c in landscape.coordinates)
        # values[i, j] is at (a_i, b_j): matplotlib wants rows indexed by y = b.
        grid = values.T.numpy()
        filled = axes.contourf(a, b, grid, levels=30, cmap="viridis")
        axes.contour(a, b, grid, levels=15, colors="white", linewidths=0.4)
        figure.colorbar(filled, ax=axes, label="loss")
        axes.plot([0.0], [0.0], marker="x", color="red")
        axes.set_xlabel("a (along d1)")
        axes.set_ylabel("b (along d2)")
        axes.set_aspect("equal")
    axes.set_title(title if title is not None else f"loss landscape (L(w) = {landscape.loss:.4g})")
    return _save(figure, path)


def plot_spectrum(
    eigenvalues: Tensor | Sequence[float],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    r"""Write the top Hessian eigenvalues (from :func:`hessian_eigenvalues`) as a PNG bar
    plot, eigenvalue :math:`\lambda_i` against its rank :math:`i`. Written atomically like
    :func:`plot_landscape`.

    Args:
        eigenvalues (Tensor or sequence of float): the eigenvalues, largest first.
        path (str or os.PathLike): the PNG to write (its folder must exist).
        title (str, optional): the figure title. (default: ``None``)

    Returns:
        The path written.

    Example:
        >>> plot_spectrum(hessian_eigenvalues(closure, params, k=10), "spectrum.png")
    """
    values = torch.as_tensor(eigenvalues, dtype=torch.float64).detach().cpu().reshape(-1)
    if values.numel() == 0:
        raise ValueError("eigenvalues must hold at least one value, got none")
    figure = _figure("plot_spectrum")
    axes = figure.add_subplot()
    ranks = list(range(1, values.numel() + 1))
    axes.bar(ranks, values.numpy(), color="C0")
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xticks(ranks)
    axes.set_xlabel("rank i")
    axes.set_ylabel("Hessian eigenvalue")
    axes.set_title(title if title is not None else "top Hessian eigenvalues")
    return _save(figure, path)


def _figure(caller: str) -> Any:
    if not fgsam_typing.WITH_MATPLOTLIB:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed: pip install 'fgsam[plot]' "
            f"(the plot extra)"
        )
    # The object-oriented API: no pyplot global state, no GUI backend.
    from matplotlib.figure import Figure

    return Figure(figsize=(6.0, 4.8), layout="constrained")


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    return atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=120))


__all__ = ["plot_landscape", "plot_spectrum"]
