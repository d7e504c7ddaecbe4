"""Lightning's automatic optimisation, recognised in the closure it hands an optimizer."""

from __future__ import annotations

import functools
from typing import Any

#: The error automatic optimisation meets, one line.
AUTOMATIC = (
    "fgsam's sharpness-aware optimizers run backward themselves and cannot be driven by "
    "Lightning's automatic optimisation: set `self.automatic_optimization = False` in the "
    "LightningModule and step with fgsam.lightning.fgsam_step (or SharpnessAwareMixin)"
)


def is_automatic_closure(closure: Any) -> bool:
    """Whether ``closure`` is the closure of Lightning's automatic optimisation (its
    ``Closure``, or a precision plugin's ``functools.partial`` around one), which runs
    ``backward`` itself and returns a detached loss: a sharpness-aware step cannot use it.
    Recognised by its module, so Lightning need not be installed."""
    parts = (closure, *closure.args) if isinstance(closure, functools.partial) else (closure,)
    for part in parts:
        module = type(part).__module__
        if module.split(".")[0] in ("lightning", "pytorch_lightning") and \
                module.endswith(".loops.optimization.automatic"):
            return True
    return False


__all__ = ["AUTOMATIC", "is_automatic_closure"]
