"""Scaled synthetic graphs of the benchmark shapes, for :func:`synthetic_node_dataset`."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor
from torch_geometric.data import Data

from fgsam.data.graph_data import graph_data
from fgsam.data.node_split import random_split, random_split_name, split_counts
from fgsam.data.synthetic import SHAPES, GraphShape, synthetic_graph

#: How a synthetic dataset's name starts: ``synthetic:<shape>[@<scale>]``.
SYNTHETIC_PREFIX = "synthetic:"


def synthetic_splits() -> dict[str, str]:
    """The split kind of each synthetic shape, by dataset name (``synthetic:<shape>``)."""
    return {f"{SYNTHETIC_PREFIX}{name}": random_split_name(name) for name in SHAPES}


def parse_synthetic(name: str) -> tuple[str, float]:
    """``(shape, scale)`` of ``"synthetic:<shape>"`` or ``"synthetic:<shape>@<scale>"``."""
    body = name[len(SYNTHETIC_PREFIX):]
    shape, _, scale_text = body.partition("@")
    if shape not in SHAPES:
        raise ValueError(f"unknown synthetic shape {shape!r} in {name!r}; valid names: "
                         f"{', '.join(SYNTHETIC_PREFIX + s for s in SHAPES)}, each optionally "
                         f"with @<scale>, 0 < scale <= 1")
    if not scale_text:
        return shape, 1.0
    try:
        return shape, float(scale_text)
    except ValueError:
        raise ValueError(f"the scale in {name!r} must be a number, 0 < scale <= 1, got "
                         f"{scale_text!r}") from None


def scaled_shape(shape: GraphShape, scale: float, label: str) -> GraphShape:
    """``shape`` with ``num_nodes`` and ``num_edges`` times ``scale`` (rounded; an even edge
    count for a symmetric shape), so that the average degree is kept."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
            or not math.isfinite(scale) or not 0 < scale <= 1:
        raise ValueError(f"scale must be a number with 0 < scale <= 1, got {scale!r}")
    if scale == 1:
        return shape
    nodes = round(shape.num_nodes * scale)
    edges = (2 * round(shape.num_edges * scale / 2) if shape.symmetric
             else round(shape.num_edges * scale))
    try:
        return replace(shape, num_nodes=nodes, num_edges=edges)
    except ValueError as err:
        raise ValueError(f"scale={scale!r} is too small for the {label} shape ({nodes} nodes, "
                         f"{edges} edges): {err}") from None


def synthetic_node_data(shape: str | GraphShape, scale: float, seed: int, split_seed: int
                        ) -> tuple[str, Data, int, tuple[Tensor, Tensor, Tensor], str]:
    """``(name, data, num_classes, (train, val, test), split kind)`` of a scaled synthetic
    graph (see :func:`fgsam.data.synthetic_node_dataset`)."""
    if isinstance(shape, GraphShape):
        shape_name, base = None, shape
    elif isinstance(shape, str) and shape.lower() in SHAPES:
        shape_name, base = shape.lower(), SHAPES[shape.lower()]
    else:
        raise ValueError(f"shape must be a GraphShape or one of {', '.join(SHAPES)}, got "
                         f"{shape!r}")
    label = shape_name or "given"
    scaled = scaled_shape(base, scale, label)
    name = f"{SYNTHETIC_PREFIX}{shape_name or 'custom'}@{scale:g}"
    graph = synthetic_graph(scaled, seed=seed)
    x = graph.x.to_dense() if graph.x.layout != torch.strided else graph.x
    if scaled.symmetric:  # already both directions, coalesced, without self-loops
        data = Data(x=x.to(torch.float32), edge_index=graph.edge_index, y=graph.y, name=name,
                    features="synthetic")
    else:
        data = graph_data(x, graph.edge_index, graph.y, name, features="synthetic")
    num_train, num_val = split_counts(scaled.num_nodes, shape_name)
    split = random_split(scaled.num_nodes, num_train, num_val, seed=split_seed)
    return name, data, scaled.num_classes, split, random_split_name(shape_name)


__all__ = ["SYNTHETIC_PREFIX", "parse_synthetic", "scaled_shape", "synthetic_node_data",
           "synthetic_splits"]
