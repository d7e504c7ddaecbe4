"""Private checks of user-given settings that several packages share.

This module imports nothing from the rest of fgsam, so every package may use it.
"""

from __future__ import annotations

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


__all__ = ["available_devices", "resolve_device"]
