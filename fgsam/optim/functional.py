"""Deprecated alias of :mod:`fgsam.optim.vectors`, the optimizers' vector helpers."""
import warnings

from fgsam.optim.vectors import *  # noqa: F403
from fgsam.optim.vectors import __all__  # noqa: F401

warnings.warn("fgsam.optim.functional is deprecated: use fgsam.optim.vectors", DeprecationWarning,
              stacklevel=2)
