"""Optional-dependency flags and shared type aliases.

A flag says whether a package is installed; nothing heavy is imported here. Code that
needs the package imports it inside the function that uses it, so a broken install
raises its own ``ImportError`` there instead of being hidden.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: RDKit is installed (needed to featurise molecules from SMILES).
WITH_RDKIT: bool = _installed("rdkit")
#: matplotlib is installed (needed for the PNG plots of ``fgsam sharpness``).
WITH_MATPLOTLIB: bool = _installed("matplotlib")

#: A closure: re-evaluates the model and returns the loss tensor (no ``backward``).
Closure = Callable[[], Tensor]
#: What an optimizer is built over: parameters, or parameter groups (dicts).
Params = Iterable[Tensor] | Iterable[dict[str, Any]]
#: A base optimizer: a ``torch.optim`` class, or its lower-case name (``"adam"``).
BaseOptimizer = type[Optimizer] | str
#: A seed or a generator (``None``: derived from ``torch.initial_seed()``).
Seed = int | torch.Generator | None

__all__ = [
    "WITH_MATPLOTLIB",
    "WITH_RDKIT",
    "BaseOptimizer",
    "Closure",
    "Params",
    "Seed",
]
