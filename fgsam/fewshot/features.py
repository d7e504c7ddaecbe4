"""Node-feature scaling applied before few-shot training."""

from __future__ import annotations

import copy

from torch_geometric.data import Data

#: The accepted ``how`` values of :func:`normalize_features`.
FEATURE_NORMALIZATIONS = ("l2", "row", "none")


#: Row L2 norms above this make :func:`feature_scale_warning` speak.
LARGE_ROW_NORM = 10.0


def feature_scale_warning(data: Data) -> str | None:
    """A one-line warning when ``data``'s feature rows are far from unit scale (largest row
    L2 norm above :data:`LARGE_ROW_NORM`), else ``None``: the few-shot GCN encoders can
    die on such inputs (GPN with ``feature_scale="none"`` on Wiki's raw TF-IDF rows falls to
    chance within 40 steps). ``fgsam fsnc`` says it unless every method it runs rescales
    its input itself (GPN's default).

    Example:
        >>> feature_scale_warning(normalize_features(data, "none"))
        'node features are unnormalised: row L2 norms up to 3,145 (median 261); ...'
    """
    x = data.x
    if x is None or x.numel() == 0:
        return None
    norms = x.float().norm(dim=1)
    top = float(norms.max())
    if top <= LARGE_ROW_NORM:
        return None
    return (f"node features are unnormalised: row L2 norms up to {top:,.0f} (median "
            f"{float(norms.median()):,.0f}); the GCN encoders' ReLUs can die at this scale and "
            f"training then falls to chance; --features l2 puts every row at norm 1 (GPN "
            f"rescales its input unless given --method-arg feature_scale=none)")


def normalize_features(data: Data, how: str = "l2") -> Data:
    r"""A shallow copy of ``data`` with its node features rescaled row by row.

    * ``"l2"``: :math:`x_i \leftarrow x_i / \lVert x_i \rVert_2` (the default of
      ``fgsam fsnc``). Puts every graph on one scale: Wiki's raw TF-IDF entries reach
      1,663, which saturates prototype distances and the GPN valuator, while binary
      bag-of-words rows only shrink by :math:`\sqrt{\text{number of words}}`.
    * ``"row"``: :math:`x_i \leftarrow x_i / \sum_j x_{ij}` (what PyG's ``NormalizeFeatures``
      does to binary bag-of-words rows, but exactly, for any non-negative features; features
      with a negative entry are left alone). Entries become so small that MetaGNN's
      inner SGD steps barely move its predictions.
    * ``"none"``: ``data`` itself, unchanged (what the GPN, TENT and FGSAM code do).

    Rows that are all zero stay zero. ``edge_index``, ``y`` and the rest are shared with
    ``data``, not copied.

    Example:
        >>> data = normalize_features(data, "l2")
    """
    if how not in FEATURE_NORMALIZATIONS:
        raise ValueError(f"feature normalization must be one of {FEATURE_NORMALIZATIONS}, "
                         f"got {how!r}")
    x = data.x
    if how == "none" or x is None or x.numel() == 0:
        return data
    if how == "row":
        if bool((x < 0).any()):
            return data
        # not PyG's NormalizeFeatures: it subtracts x.min() and divides by max(row sum, 1)
        scale = x.sum(1, keepdim=True)
    else:
        scale = x.norm(dim=1, keepdim=True)  # PyG has no transform scaling rows to unit L2 norm
    out = copy.copy(data)  # shares edge_index and y; x is replaced below
    out.x = x / scale.where(scale > 0, scale.new_ones(()))
    return out


__all__ = ["FEATURE_NORMALIZATIONS", "LARGE_ROW_NORM", "feature_scale_warning",
           "normalize_features"]
