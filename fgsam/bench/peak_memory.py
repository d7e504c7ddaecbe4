"""Peak memory of a few training steps: the CUDA allocator's peak, or the process's peak RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable
from pathlib import Path

import torch

from fgsam.bench.timing import synchronize

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_memory_mib(step: Callable[[], object], n: int,
                    device: torch.device | str | None = None) -> float:
    """Peak memory (MiB) of ``n`` calls of ``step`` above the level before them.

    On CUDA the allocator's peak above the memory allocated before the steps; on the CPU
    the peak resident set size (``VmHWM``) above the RSS before, after handing freed heap
    memory back to the system and resetting the peak (Linux: ``/proc/self/clear_refs``).
    Where the peak RSS cannot be reset (not Linux), ``nan``.

    Args:
        step (callable): one training step.
        n (int): how many steps.
        device (torch.device, optional): where the steps run. (default: the CPU)

    Example:
        >>> peak_memory_mib(lambda: training_step(opt, closure), 10)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if device is not None and torch.device(device).type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        for _ in range(n):
            step()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not (_STATUS.is_file() and _CLEAR_REFS.exists()):
        return math.nan
    _trim_heap()  # freed memory goes back first, so the peak is this run's
    _CLEAR_REFS.write_text("5")  # resets the peak RSS (VmHWM) to the current RSS
    base = _status_kib("VmRSS")
    for _ in range(n):
        step()
    return (_status_kib("VmHWM") - base) / 1024


def _trim_heap() -> None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):  # glibc only
        libc.malloc_trim(0)


def _status_kib(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} missing from {_STATUS}")  # present on every Linux kernel


__all__ = ["peak_memory_mib"]
