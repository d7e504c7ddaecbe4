"""Private checks of user-given settings that several packages share.

This module imports nothing from the rest of fgsam, so every package may use it.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

import torch


def available_devices() -> list[str]:
    """The torch devices this process can use, e.g. ``["cpu", "cuda:0", "cuda:1"]``."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(name: str | torch.device | None, flag: str = "device") -> torch.device:
    """The device ``name`` names, checked to exist here; ``None`` picks ``cuda`` when it is
    available, else ``cpu`` (the one place a default accelerator is chosen).

    Raises a one-line ``ValueError`` naming ``flag``, the value and the available devices
    for a malformed name or a device this process cannot use.

    Example:
        >>> resolve_device(None)
        device(type='cpu')
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = available_devices()
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{flag} {str(name)!r} is not a device name; available here: "
                         f"{', '.join(available)}") from None
    ok = device.type == "cpu"
    if device.type == "cuda":
        ok = torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    elif device.type == "mps":
        ok = "mps" in available
    if not ok:
        raise ValueError(f"{flag} {str(name)!r} is not available in this process; "
                         f"available here: {', '.join(available)}")
    return device


def check_loss(loss: Any, pass_name: str) -> torch.Tensor:
    """``loss`` if it is a one-element tensor; otherwise a ``TypeError`` naming the pass."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        if isinstance(loss, torch.Tensor):
            got = f"Tensor of shape {tuple(loss.shape)} (reduce it, e.g. with .mean())"
        elif loss is None:
            got = "None (does the closure return the loss?)"
        else:
            got = f"{reprlib.repr(loss)} ({type(loss).__name__})"
        raise TypeError(
            f"the {pass_name} closure must return the loss as a one-element tensor, got {got}"
        )
    return loss


def check_non_negative(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                high_open: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``low ≤ value ≤ high`` (or open ends)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")


def check_positive_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_edge_index(edge_index: Any, num_nodes: int, nodes: str | None = None) -> None:
    """Raise ``ValueError`` unless ``edge_index`` is a long ``[2, E]`` tensor of ids in
    ``[0, num_nodes)``; ``nodes`` says where ``num_nodes`` comes from (e.g. ``"x has 400
    rows"``) in the message."""
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or \
            edge_index.size(0) != 2 or edge_index.dtype != torch.long:
        got = (f"{edge_index.dtype} of shape {tuple(edge_index.shape)}"
               if isinstance(edge_index, torch.Tensor) else type(edge_index).__name__)
        raise ValueError(f"edge_index must be a long tensor of shape [2, E], got {got}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        ids = f"[{int(edge_index.min())}, {int(edge_index.max())}]"
        if nodes is not None:
            raise ValueError(f"{nodes} but edge_index names nodes in {ids}: one row per node")
        raise ValueError(f"edge_index must hold node ids in [0, {num_nodes}), got ids in {ids}")


__all__ = [
    "available_devices",
    "check_edge_index",
    "check_loss",
    "check_non_negative",
    "check_positive_int",
    "check_range",
    "resolve_device",
]
