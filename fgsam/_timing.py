"""The clock helpers every command shares: device synchronisation and the one-line
machine description that goes with every measured number."""

from __future__ import annotations

import platform

import torch


def synchronize(device: torch.device | str | None) -> None:
    """Wait for queued kernels on ``device`` (no-op on the CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def machine_description(device: torch.device | str | None = None) -> str:
    """One line naming the hardware and software the numbers come from."""
    dev = torch.device(device or "cpu")
    if dev.type == "cuda":
        hw = torch.cuda.get_device_name(dev)
    else:
        hw = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{hw}; torch {torch.__version__}; Python {platform.python_version()}"


__all__ = ["machine_description", "synchronize"]
