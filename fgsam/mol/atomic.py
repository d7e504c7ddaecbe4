"""Atomic file writes for the molecule package: the shared :mod:`fgsam._io` writers.

Kept as a module of its own so that ``from fgsam.mol.atomic import torch_save`` and the
other imports of it keep working; every write goes through :mod:`fgsam._io` (a temporary
file beside the target, then ``os.replace``; the umask's file mode; strict JSON).
"""

from __future__ import annotations

from fgsam._io import atomic_write, torch_save, write_json

__all__ = ["atomic_write", "torch_save", "write_json"]
